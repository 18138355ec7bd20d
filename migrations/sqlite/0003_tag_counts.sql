-- Number of assets carrying each tag, kept by triggers, so tag lists and tag filters need no count over assignments.
ALTER TABLE tags ADD COLUMN asset_count INTEGER NOT NULL DEFAULT 0;

UPDATE tags SET asset_count = (SELECT count(*) FROM asset_tags WHERE asset_tags.tag_id = tags.id);

CREATE TRIGGER asset_tags_count_insert AFTER INSERT ON asset_tags BEGIN
    UPDATE tags SET asset_count = asset_count + 1 WHERE id = new.tag_id;
END;

CREATE TRIGGER asset_tags_count_delete AFTER DELETE ON asset_tags BEGIN
    UPDATE tags SET asset_count = asset_count - 1 WHERE id = old.tag_id;
END;
