-- An asset row settles the pending object of its bytes: the upload inserts the row in one statement, which also
-- removes the pending row, so it needs no transaction of several statements.
CREATE TRIGGER assets_settle_pending_object AFTER INSERT ON assets BEGIN
    DELETE FROM pending_objects WHERE storage_key = NEW.storage_key;
END;
