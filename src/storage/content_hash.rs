//! The hash of an asset's bytes, stored as `{algorithm}:{lower-case hex}`.
//!
//! Uploads hash with BLAKE3, which takes about a quarter of SHA-256's CPU time per byte on the benchmark machine
//! (docs/benchmarks.md, section 1). Assets stored before migration 0006 keep their SHA-256, which that migration
//! prefixed with `sha256:`, so copying or verifying them hashes with SHA-256 again. Both digests are 32 bytes long, so an ETag
//! or a variant key made from the hex looks the same for either.

use sha2::Digest;

/// A hash function of stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Blake3,
}

impl HashAlgorithm {
    /// The algorithm of new uploads.
    pub const FOR_UPLOADS: Self = Self::Blake3;

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Blake3 => "blake3",
        }
    }

    /// Returns the algorithm that made a stored hash, or `None` for an algorithm this version does not implement.
    pub fn of(stored: &str) -> Option<Self> {
        match stored.split_once(':')?.0 {
            "sha256" => Some(Self::Sha256),
            "blake3" => Some(Self::Blake3),
            _ => None,
        }
    }

    pub fn hasher(self) -> ContentHasher {
        match self {
            Self::Sha256 => ContentHasher::Sha256(sha2::Sha256::new()),
            Self::Blake3 => ContentHasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }
}

/// A hash being computed over a stream of chunks.
pub enum ContentHasher {
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl ContentHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Blake3(hasher) => {
                hasher.update(bytes);
            }
        }
    }

    /// Returns the hash in its stored form, `{algorithm}:{hex}`.
    pub fn finish(self) -> String {
        let (algorithm, digest): (HashAlgorithm, [u8; 32]) = match self {
            Self::Sha256(hasher) => (HashAlgorithm::Sha256, hasher.finalize().into()),
            Self::Blake3(hasher) => (HashAlgorithm::Blake3, *hasher.finalize().as_bytes()),
        };
        format!("{}:{}", algorithm.name(), hex::encode(digest))
    }
}

/// Returns the hex digest of a stored hash, without its algorithm.
pub fn digest_hex(stored: &str) -> &str {
    stored.split_once(':').map_or(stored, |(_, hex)| hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(algorithm: HashAlgorithm, chunks: &[&[u8]]) -> String {
        let mut hasher = algorithm.hasher();
        for chunk in chunks {
            hasher.update(chunk);
        }
        hasher.finish()
    }

    #[test]
    fn stored_form_names_the_algorithm() {
        // Published test vectors: SHA-256 of "abc" (FIPS 180-2) and BLAKE3 of the empty input.
        assert_eq!(
            hash(HashAlgorithm::Sha256, &[b"a", b"bc"]),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash(HashAlgorithm::Blake3, &[]),
            "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn chunking_does_not_change_the_hash() {
        let bytes: Vec<u8> = (0..10_000u32).map(|n| (n % 251) as u8).collect();
        let (left, right) = bytes.split_at(4_097);
        for algorithm in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
            assert_eq!(hash(algorithm, &[&bytes]), hash(algorithm, &[left, right]));
        }
    }

    #[test]
    fn algorithm_and_digest_are_read_back() {
        let stored = hash(HashAlgorithm::Blake3, &[b"medialib"]);
        assert_eq!(HashAlgorithm::of(&stored), Some(HashAlgorithm::Blake3));
        assert_eq!(digest_hex(&stored).len(), 64);
        assert_eq!(HashAlgorithm::of("sha256:00"), Some(HashAlgorithm::Sha256));
        assert_eq!(HashAlgorithm::of("md5:00"), None);
        assert_eq!(HashAlgorithm::of("00ff"), None);
        assert_eq!(digest_hex("00ff"), "00ff");
    }
}
