//! Password hashing with Argon2id.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("hashing the password failed: {error}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn verifies_only_the_right_password() {
        let phc = super::hash("correct horse").unwrap();
        assert!(super::verify("correct horse", &phc));
        assert!(!super::verify("wrong horse", &phc));
        assert!(!super::verify("correct horse", "not a hash"));
    }
}
