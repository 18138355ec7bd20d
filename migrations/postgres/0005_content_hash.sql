-- The hash of an asset's bytes names its algorithm: uploads from this version on are hashed with BLAKE3
-- (`blake3:{hex}`), and the SHA-256 of earlier assets becomes `sha256:{hex}`. The variants table records the same
-- value for the bytes a variant was rendered from.
ALTER TABLE assets RENAME COLUMN sha256 TO content_hash;
UPDATE assets SET content_hash = 'sha256:' || content_hash;
ALTER TABLE variants RENAME COLUMN source_sha256 TO source_hash;
UPDATE variants SET source_hash = 'sha256:' || source_hash;
