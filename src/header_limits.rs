//! Limits on the number and size of a request's header fields, enforced with a JSON 431.
//!
//! hyper sends 431 with an empty body when the headers overflow its own limits, before any medialib code runs. The
//! server gives hyper higher limits (`HYPER_MAX_HEADERS` fields, and hyper's default buffer of about 400 KiB) and this
//! middleware enforces lower ones. A client that sends too many or too large headers then gets the usual JSON error,
//! which states the limit. Only a request beyond hyper's limits still gets hyper's empty 431.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Maximum number of header fields in a request.
pub const MAX_HEADER_FIELDS: usize = 100;
/// Maximum size of a request's header fields in bytes, each counted as `name: value` plus the line end.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's own limit on header fields, set above `MAX_HEADER_FIELDS` so that this middleware rejects first.
pub const HYPER_MAX_HEADERS: usize = 256;

/// Rejects the request with a JSON 431 when the request's headers exceed `MAX_HEADER_FIELDS` or `MAX_HEADER_BYTES`.
pub async fn limit_headers(request: Request, next: Next) -> Response {
    if let Some(error) = check(request.headers()) {
        return error.into_response();
    }
    next.run(request).await
}

fn check(headers: &HeaderMap) -> Option<ApiError> {
    let fields = headers.len();
    if fields > MAX_HEADER_FIELDS {
        return Some(too_large(format!(
            "The request has {fields} header fields; the limit is {MAX_HEADER_FIELDS}. Send fewer headers."
        )));
    }

    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Some(too_large(format!(
            "The request's headers take {bytes} bytes; the limit is {MAX_HEADER_BYTES}. Send shorter headers."
        )));
    }
    None
}

fn too_large(message: String) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        message,
    )
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    fn headers(count: usize, value_len: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for index in 0..count {
            let name = HeaderName::try_from(format!("x-field-{index}")).unwrap();
            headers.insert(name, HeaderValue::from_str(&"v".repeat(value_len)).unwrap());
        }
        headers
    }

    #[test]
    fn headers_within_the_limits_pass() {
        assert!(check(&headers(MAX_HEADER_FIELDS, 600)).is_none());
    }

    #[test]
    fn one_field_too_many_is_431() {
        let error = check(&headers(MAX_HEADER_FIELDS + 1, 1)).expect("over the field limit");
        assert_eq!(error.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(error.code, "headers_too_large");
        assert!(
            error.message.contains("101 header fields"),
            "{}",
            error.message
        );
    }

    #[test]
    fn one_byte_too_many_is_431() {
        // One field of exactly the limit: "x-field-0" (9) + 4 + value.
        let at_limit = headers(1, MAX_HEADER_BYTES - 13);
        assert!(check(&at_limit).is_none());
        let over = headers(1, MAX_HEADER_BYTES - 12);
        let error = check(&over).expect("over the byte limit");
        assert_eq!(error.code, "headers_too_large");
        assert!(error.message.contains("65537 bytes"), "{}", error.message);
    }
}
