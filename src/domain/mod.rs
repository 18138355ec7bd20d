//! Validated values: everything a client sends is parsed into one of these types at the edge.

pub mod cursor;
pub mod filename;
pub mod ids;
pub mod repository_name;
pub mod search;
pub mod tag_name;
pub mod text_field;

/// Returns the current time as Unix epoch milliseconds.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
