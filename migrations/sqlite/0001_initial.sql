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

-- `seq` is the stable rowid that the search index refers to.
CREATE TABLE assets (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
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

-- Trigram index over the folded search keys: a keyword of 3 or more characters is looked up here before the exact
-- substring check, so a search does not scan every asset of the repository.
CREATE VIRTUAL TABLE asset_search USING fts5 (
    search_filename, search_alt, search_notes, search_credits,
    content = 'assets', content_rowid = 'seq', tokenize = 'trigram case_sensitive 1'
);

CREATE TRIGGER assets_search_insert AFTER INSERT ON assets BEGIN
    INSERT INTO asset_search (rowid, search_filename, search_alt, search_notes, search_credits)
    VALUES (new.seq, new.search_filename, new.search_alt, new.search_notes, new.search_credits);
END;

CREATE TRIGGER assets_search_delete AFTER DELETE ON assets BEGIN
    INSERT INTO asset_search (asset_search, rowid, search_filename, search_alt, search_notes, search_credits)
    VALUES ('delete', old.seq, old.search_filename, old.search_alt, old.search_notes, old.search_credits);
END;

CREATE TRIGGER assets_search_update
AFTER UPDATE OF search_filename, search_alt, search_notes, search_credits ON assets BEGIN
    INSERT INTO asset_search (asset_search, rowid, search_filename, search_alt, search_notes, search_credits)
    VALUES ('delete', old.seq, old.search_filename, old.search_alt, old.search_notes, old.search_credits);
    INSERT INTO asset_search (rowid, search_filename, search_alt, search_notes, search_credits)
    VALUES (new.seq, new.search_filename, new.search_alt, new.search_notes, new.search_credits);
END;

-- Number of assets per repository and kind, kept by triggers, so an unfiltered listing's total needs no count.
CREATE TABLE asset_counts (
    repository_id  INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    count          INTEGER NOT NULL,
    PRIMARY KEY (repository_id, kind)
);

CREATE TRIGGER assets_count_insert AFTER INSERT ON assets BEGIN
    INSERT INTO asset_counts (repository_id, kind, count) VALUES (new.repository_id, new.kind, 1)
    ON CONFLICT (repository_id, kind) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER assets_count_delete AFTER DELETE ON assets BEGIN
    UPDATE asset_counts SET count = count - 1 WHERE repository_id = old.repository_id AND kind = old.kind;
END;
