-- Feed of changed assets, read by the in-memory listing index of every server on this database to catch up with
-- writes made by other processes (src/listing). A row names an asset whose listing fields (search keys, kind,
-- uploader or tags) changed, or that was inserted or deleted; readers reload that asset's current state. Triggers
-- fill it, so every writer is covered.
--
-- Identity values are handed out before commit, so concurrent transactions commit them out of order, and a reader
-- that remembered the highest id it saw could skip a row that commits later with a lower id. Rows therefore record
-- the id of their transaction (`xid`), and a reader's position is the `xmin` of its snapshot: every transaction with
-- a lower id has ended, so its rows are either visible or never will be. The next read starts again at that `xmin`
-- and may see a row twice, which is harmless because readers reload the asset's current state.
CREATE TABLE asset_changes (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid            BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    repository_id  BIGINT NOT NULL,
    asset_id       TEXT COLLATE "C" NOT NULL
);

CREATE INDEX asset_changes_by_repository ON asset_changes (repository_id, xid);
CREATE INDEX asset_changes_by_xid ON asset_changes (xid);

-- Rows with an `xid` below `through` were pruned: a reader whose position is lower must reload the repository.
CREATE TABLE asset_changes_pruned (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    through  BIGINT NOT NULL
);

INSERT INTO asset_changes_pruned (id, through) VALUES (1, 0);

CREATE FUNCTION asset_changes_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'assets' THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO asset_changes (repository_id, asset_id) VALUES (OLD.repository_id, OLD.id);
        ELSE
            INSERT INTO asset_changes (repository_id, asset_id) VALUES (NEW.repository_id, NEW.id);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        -- When an assignment goes with its asset, the asset's own row covers it, and this finds no asset.
        INSERT INTO asset_changes (repository_id, asset_id)
        SELECT repository_id, id FROM assets WHERE id = OLD.asset_id;
    ELSE
        INSERT INTO asset_changes (repository_id, asset_id)
        SELECT repository_id, id FROM assets WHERE id = NEW.asset_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER asset_changes_assets AFTER INSERT OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION asset_changes_record();

CREATE TRIGGER asset_changes_assets_update
    AFTER UPDATE OF search_filename, search_alt, search_notes, search_credits, kind, uploader_id ON assets
    FOR EACH ROW EXECUTE FUNCTION asset_changes_record();

CREATE TRIGGER asset_changes_asset_tags AFTER INSERT OR DELETE ON asset_tags
    FOR EACH ROW EXECUTE FUNCTION asset_changes_record();
