//! Logging setup and the per-request log line.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::InternalCause;

/// Sends log lines to standard error. `RUST_LOG` overrides `default_filter`.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second initialisation (tests that start several servers in one process) keeps the first subscriber.
    let _ = result;
}

/// Logs one line per request with the method, matched route, status, duration and request id, and records request
/// metrics. The line never contains the query string, a header value or a body. Internal errors are logged here with
/// their cause.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    let response = next.run(request).await;

    let status = response.status().as_u16();
    let duration = started.elapsed();
    let duration_ms = duration.as_secs_f64() * 1000.0;
    let cause = response
        .extensions()
        .get::<InternalCause>()
        .map(|cause| cause.0.as_str().to_owned());
    match (status, cause) {
        (500.., Some(cause)) => tracing::error!(
            http.method = %method, http.route = %route, http.status = status, duration_ms, request_id = %request_id,
            error = %cause, "request failed"
        ),
        (500.., None) => tracing::error!(
            http.method = %method, http.route = %route, http.status = status, duration_ms, request_id = %request_id,
            "request failed"
        ),
        _ => tracing::info!(
            http.method = %method, http.route = %route, http.status = status, duration_ms, request_id = %request_id,
            "request"
        ),
    }

    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("medialib_http_requests_total", &labels).increment(1);
    metrics::histogram!("medialib_http_request_duration_seconds", &labels[..2])
        .record(duration.as_secs_f64());
    response
}

/// Collapses repeated slashes and drops a trailing slash, so `//assets` and `/assets/` reach `/assets`.
/// `@prismicio/client` appends `/` to a custom endpoint, so its paths start with `//`.
pub fn normalize_path(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return request;
    }

    let mut collapsed = String::with_capacity(path.len());
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        collapsed.push('/');
        collapsed.push_str(segment);
    }
    if collapsed.is_empty() {
        collapsed.push('/');
    }
    if let Some(query) = uri.query() {
        collapsed.push('?');
        collapsed.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = collapsed.parse().ok();
    if let Ok(new_uri) = Uri::from_parts(parts) {
        *request.uri_mut() = new_uri;
    }
    request
}

/// Value of `x-request-id` generated for each request.
#[derive(Clone, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(
        &mut self,
        _request: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Some(tower_http::request_id::RequestId::new(
            HeaderValue::from_str(&id).expect("hex"),
        ))
    }
}
