-- The id of the S3 multipart upload that writes a pending object, recorded before its first part is sent. The
-- sweeper aborts that upload, so the parts of an upload whose process was killed do not stay in the bucket.
ALTER TABLE pending_objects ADD COLUMN upload_id TEXT;
