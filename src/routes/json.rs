//! JSON request bodies, read as a `serde_json::Value` so that an absent key, `null` and a wrong type are
//! distinguished and each gets a precise 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Largest JSON body accepted, in bytes.
const MAX_JSON_BYTES: usize = 1024 * 1024;

/// A JSON object from the request body.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_JSON_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("The JSON body is larger than {MAX_JSON_BYTES} bytes."),
                )
            })?;
        let _ = state;
        parse_object(&bytes).map(JsonObject)
    }
}

fn parse_object(bytes: &Bytes) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_json",
            "The body must be a JSON object.",
        )),
        Err(error) => Err(ApiError::bad_request(
            "invalid_json",
            format!("The body is not valid JSON: {error}."),
        )),
    }
}

/// Reads an optional string field: absent is `None`; `null` or another type is a 400 naming the field.
pub fn optional_string(object: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

/// Reads a required string field.
pub fn required_string(object: &Map<String, Value>, key: &str) -> ApiResult<String> {
    optional_string(object, key)?.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_field",
            format!("`{key}` is missing; send it as a string."),
        )
    })
}

/// Reads an optional array of strings: absent is `None`; `null`, another type or a non-string item is a 400.
pub fn optional_string_list(
    object: &Map<String, Value>,
    key: &str,
) -> ApiResult<Option<Vec<String>>> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(wrong_type(key, "an array of strings", other)),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(other) => Err(wrong_type(key, "an array of strings", other)),
    }
}

/// Reads a required, non-empty array of strings of at most `max` items.
pub fn required_id_list(
    object: &Map<String, Value>,
    key: &str,
    max: usize,
) -> ApiResult<Vec<String>> {
    let Some(ids) = optional_string_list(object, key)? else {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("`{key}` is missing; send an array of ids."),
        ));
    };
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "empty_ids",
            format!("`{key}` is empty; send at least one id."),
        ));
    }
    if ids.len() > max {
        return Err(ApiError::bad_request(
            "too_many_ids",
            format!(
                "`{key}` has {} ids; send at most {max} per request.",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

fn wrong_type(key: &str, expected: &str, found: &Value) -> ApiError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ApiError::bad_request(
        "invalid_field",
        format!("`{key}` must be {expected}, not {found}."),
    )
}
