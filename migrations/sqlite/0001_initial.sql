-- Metadata of the embedded backend. Times are Unix epoch milliseconds.

CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    email                TEXT NOT NULL UNIQUE,
    password_hash        TEXT,
    created_at           INTEGER NOT NULL
);

CREATE TABLE user_repositories (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    repository_id  INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, repository_id)
);

-- Permanent tokens belong to one repository. Session tokens (from POST /login) belong to a user and reach every
-- repository of that user, so their repository_id is NULL.
CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    secret_hash    TEXT NOT NULL UNIQUE,
    repository_id  INTEGER REFERENCES repositories (id) ON DELETE CASCADE,
    user_id        TEXT REFERENCES users (id) ON DELETE CASCADE,
    read_only      INTEGER NOT NULL DEFAULT 0,
    label          TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    revoked_at     INTEGER
);

CREATE TABLE assets (
    id                  TEXT PRIMARY KEY,
    repository_id       INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    filename            TEXT NOT NULL,
    uploaded_filename   TEXT NOT NULL,
    extension           TEXT NOT NULL,
    size                INTEGER NOT NULL,
    kind                TEXT NOT NULL,
    content_type        TEXT NOT NULL,
    width               INTEGER,
    height              INTEGER,
    notes               TEXT,
    credits             TEXT,
    alt                 TEXT,
    uploader_id         TEXT NOT NULL,
    sha256              TEXT NOT NULL,
    storage_key         TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    last_modified       INTEGER NOT NULL,
    -- Folded copies of the searchable fields (NFC, full case folding, combining marks removed).
    search_filename     TEXT NOT NULL,
    search_notes        TEXT NOT NULL DEFAULT '',
    search_credits      TEXT NOT NULL DEFAULT '',
    search_alt          TEXT NOT NULL DEFAULT ''
);

CREATE INDEX assets_by_creation ON assets (repository_id, created_at DESC, id DESC);
CREATE INDEX assets_by_kind ON assets (repository_id, kind, created_at DESC, id DESC);
CREATE INDEX assets_by_uploader ON assets (repository_id, uploader_id, created_at DESC, id DESC);

CREATE TABLE tags (
    id             TEXT PRIMARY KEY,
    repository_id  INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    last_modified  INTEGER NOT NULL,
    UNIQUE (repository_id, name)
);

CREATE TABLE asset_tags (
    asset_id  TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    tag_id    TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (asset_id, tag_id)
);

CREATE INDEX asset_tags_by_tag ON asset_tags (tag_id, asset_id);

-- Stored objects that may have no asset row: an upload in progress (inserted before the first byte is written and
-- removed in the transaction that inserts the asset) or the bytes of a deleted asset (inserted in the transaction that
-- deletes the row). The sweeper deletes the object and the row once `not_before` has passed.
CREATE TABLE pending_objects (
    storage_key  TEXT PRIMARY KEY,
    not_before   INTEGER NOT NULL
);

-- One row once the first start has created the demo repository, so it is created at most once.
CREATE TABLE bootstrap (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    created_at  INTEGER NOT NULL
);
