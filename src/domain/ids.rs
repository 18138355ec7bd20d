//! Generation of identifiers and secrets.

use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Length of an asset id, as on Prismic.
pub const ASSET_ID_LEN: usize = 16;

/// Returns a new random asset id: 16 URL-safe alphanumeric characters.
pub fn new_asset_id() -> String {
    Alphanumeric.sample_string(&mut OsRng, ASSET_ID_LEN)
}

/// Returns a new random tag id (a UUID).
pub fn new_tag_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Returns a new user id.
pub fn new_user_id() -> String {
    format!(
        "user-{}",
        Alphanumeric.sample_string(&mut OsRng, 12).to_lowercase()
    )
}

/// Returns a new short token id, shown by `token list` and used by `token revoke`.
pub fn new_token_id() -> String {
    format!(
        "tok_{}",
        Alphanumeric.sample_string(&mut OsRng, 10).to_lowercase()
    )
}

/// Returns a new bearer token secret with 190 bits of entropy.
pub fn new_token_secret(prefix: &str) -> String {
    format!("{prefix}_{}", Alphanumeric.sample_string(&mut OsRng, 32))
}

/// Hashes a token secret for storage; tokens are looked up by this hash and never stored in clear.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
