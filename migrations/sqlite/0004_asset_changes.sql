-- Feed of changed assets, read by the in-memory listing index of every server on this database to catch up with
-- writes made by other processes. A row names an asset whose listing fields (search keys, kind, uploader or tags)
-- changed, or that was inserted or deleted; readers reload that asset's current state. Triggers fill it, so every
-- writer, the bench seeder included, is covered. Old rows are pruned; `asset_changes_pruned.through` tells a reader
-- that fell behind the pruned rows to reload the whole repository.
CREATE TABLE asset_changes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id  INTEGER NOT NULL,
    asset_id       TEXT NOT NULL
);

CREATE INDEX asset_changes_by_repository ON asset_changes (repository_id, id);

CREATE TABLE asset_changes_pruned (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    through  INTEGER NOT NULL
);

INSERT INTO asset_changes_pruned (id, through) VALUES (1, 0);

CREATE TRIGGER asset_changes_insert AFTER INSERT ON assets BEGIN
    INSERT INTO asset_changes (repository_id, asset_id) VALUES (new.repository_id, new.id);
END;

CREATE TRIGGER asset_changes_delete AFTER DELETE ON assets BEGIN
    INSERT INTO asset_changes (repository_id, asset_id) VALUES (old.repository_id, old.id);
END;

CREATE TRIGGER asset_changes_update
AFTER UPDATE OF search_filename, search_alt, search_notes, search_credits, kind, uploader_id ON assets BEGIN
    INSERT INTO asset_changes (repository_id, asset_id) VALUES (new.repository_id, new.id);
END;

-- When an assignment goes with its asset, the asset's own delete row covers it, so nothing is inserted.
CREATE TRIGGER asset_changes_tag_insert AFTER INSERT ON asset_tags BEGIN
    INSERT INTO asset_changes (repository_id, asset_id)
    SELECT repository_id, id FROM assets WHERE id = new.asset_id;
END;

CREATE TRIGGER asset_changes_tag_delete AFTER DELETE ON asset_tags BEGIN
    INSERT INTO asset_changes (repository_id, asset_id)
    SELECT repository_id, id FROM assets WHERE id = old.asset_id;
END;
