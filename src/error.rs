//! The API's error type: a status, a stable snake_case code and a sentence for people.
//!
//! Every error body is `{"error": "<code>", "message": "<sentence>"}`: `@prismicio/client` reads `error`, other
//! clients read `message`. Internal failures become an opaque 500 (or 503 when the database or the object store is
//! unavailable) whose cause goes to the request log, never to the client.

use std::fmt;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Body of every error response.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable machine-readable code, snake_case.
    #[cfg_attr(feature = "server", schema(example = "asset_not_found"))]
    pub error: String,
    /// Sentence that describes the failure and how to fix it.
    pub message: String,
}

/// An error returned by a handler.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `retry-after` header (429 and 503).
    pub retry_after: Option<u64>,
    /// Cause of an internal error, logged and never sent.
    pub internal: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            internal: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn asset_not_found(id: &str) -> Self {
        Self::not_found(
            "asset_not_found",
            format!("No asset with id {id:?} exists in this repository."),
        )
    }

    pub fn tag_not_found(id: &str) -> Self {
        Self::not_found(
            "tag_not_found",
            format!("No tag with id {id:?} exists in this repository."),
        )
    }

    pub fn rate_limited(retry_after: u64, message: String) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        error.retry_after = Some(retry_after);
        error
    }

    /// Wraps an unexpected failure: the client gets an opaque 500 and the request log records the cause.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The server failed to complete the request; the failure was logged.",
        );
        error.internal = Some(cause.into());
        error
    }

    /// Wraps a failure of a backing service (database or object store) as a 503 the client may retry.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "A backing service is unavailable; retry in a few seconds.",
        );
        error.retry_after = Some(5);
        error.internal = Some(cause.into());
        error
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// Cause of an internal error, attached to the response so the request log prints it once.
#[derive(Clone)]
pub struct InternalCause(pub std::sync::Arc<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();

        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(cause) = self.internal {
            response
                .extensions_mut()
                .insert(InternalCause(std::sync::Arc::new(format!("{cause:#}"))));
        }
        response
    }
}

#[cfg(feature = "server")]
impl From<crate::db::DbError> for ApiError {
    fn from(error: crate::db::DbError) -> Self {
        use crate::db::DbError;
        match error {
            DbError::Unavailable(cause) => ApiError::unavailable(cause),
            // Handlers map these to their own responses; one that reaches here was not expected by its handler.
            other @ (DbError::NotFound
            | DbError::Conflict
            | DbError::UnknownReference(_)
            | DbError::Other(_)) => ApiError::internal(other),
        }
    }
}

#[cfg(feature = "server")]
impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        ApiError::unavailable(error)
    }
}
