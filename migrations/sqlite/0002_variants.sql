-- Rendered image variants kept in the object store, so the cache stays within its size budget across servers.
CREATE TABLE variants (
    storage_key  TEXT PRIMARY KEY,
    -- SHA-256 of the source bytes: assets with the same bytes share variants.
    source_sha256 TEXT NOT NULL,
    size         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used    INTEGER NOT NULL
);

CREATE INDEX variants_by_source ON variants (source_sha256);
CREATE INDEX variants_by_use ON variants (last_used);

-- Finds whether any asset still has given bytes, when variants of deleted assets are removed.
CREATE INDEX assets_by_content ON assets (sha256);
