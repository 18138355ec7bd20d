//! Opaque listing cursors.
//!
//! A cursor contains the sort key of the last item of a page (the match score when a keyword is in use, then the creation
//! time and the id) and a digest of the filters that produced the page, so a cursor reused with other filters is
//! rejected instead of silently skipping or repeating items.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Match score of the last item; present only for keyword searches.
    #[serde(rename = "s", skip_serializing_if = "Option::is_none", default)]
    pub score: Option<i64>,
    #[serde(rename = "c")]
    pub created_at: i64,
    #[serde(rename = "i")]
    pub id: String,
    /// Digest of the filters, from [`filter_digest`].
    #[serde(rename = "f")]
    pub filters: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor always serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a cursor and checks that it was made for the same filters; `None` when it is garbled or foreign.
    pub fn decode(text: &str, expected_filters: &str) -> Option<Self> {
        if text.len() > 1024 {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
        let cursor: Cursor = serde_json::from_slice(&json).ok()?;
        (cursor.filters == expected_filters).then_some(cursor)
    }
}

/// Returns a short digest of the filter values, each given as a `(name, value)` pair in a fixed order.
pub fn filter_digest(parts: &[(&str, String)]) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in parts {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.len().to_le_bytes());
        hasher.update(value.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cursor {
        Cursor {
            score: Some(2),
            created_at: 1_700_000_000_000,
            id: "AbCdEf".into(),
            filters: "abc".into(),
        }
    }

    #[test]
    fn round_trips() {
        let cursor = sample();
        assert_eq!(Cursor::decode(&cursor.encode(), "abc"), Some(cursor));
    }

    #[test]
    fn rejects_other_filters() {
        assert_eq!(Cursor::decode(&sample().encode(), "xyz"), None);
    }

    #[test]
    fn rejects_garbage() {
        for text in ["", "!!!", "bm90IGpzb24", &"A".repeat(2000)] {
            assert_eq!(Cursor::decode(text, "abc"), None, "{text}");
        }
    }

    #[test]
    fn digest_separates_fields() {
        let a = filter_digest(&[("keyword", "ab".into()), ("type", "c".into())]);
        let b = filter_digest(&[("keyword", "a".into()), ("type", "bc".into())]);
        assert_ne!(a, b);
    }
}
