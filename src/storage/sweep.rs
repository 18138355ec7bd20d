//! Deletion of objects that no asset references: bytes of interrupted uploads once their grace period has passed,
//! and bytes of deleted assets whose immediate deletion failed.
//!
//! The list of such objects is kept in the database, so several servers can sweep the same store: deleting an object
//! twice is harmless, and an upload still in progress is protected by its grace period. On S3, the multipart upload
//! of an interrupted upload is aborted too, so its parts do not stay in the bucket.

use std::sync::Arc;
use std::time::Duration;

use crate::db::{Database, PendingObject};
use crate::domain::now_millis;
use crate::storage::BlobStore;

/// Objects handled per sweep query.
const BATCH: u32 = 100;
/// How long an object whose deletion failed waits before the next attempt, in milliseconds.
const RETRY_DELAY_MS: i64 = 60_000;

/// Deletes every pending object that is due; returns how many were deleted.
///
/// An object whose deletion fails is logged and tried again after `RETRY_DELAY_MS`, so that it never holds up the
/// others. A due object has no live upload (a running upload keeps pushing its deadline back), so a multipart upload
/// that cannot be aborted does not keep its object from being deleted.
pub async fn sweep_once(database: &dyn Database, store: &BlobStore) -> anyhow::Result<usize> {
    let mut deleted = 0;
    loop {
        let objects = database.due_pending_objects(now_millis(), BATCH).await?;
        for object in &objects {
            match sweep_object(database, store, object).await {
                Ok(()) => deleted += 1,
                Err(error) => {
                    tracing::warn!(
                        key = %object.storage_key,
                        error = %format!("{error:#}"),
                        retry_in_s = RETRY_DELAY_MS / 1000,
                        "deleting an unreferenced object failed"
                    );
                    database
                        .extend_pending_object(&object.storage_key, now_millis() + RETRY_DELAY_MS)
                        .await?;
                }
            }
        }
        if objects.len() < BATCH as usize {
            return Ok(deleted);
        }
    }
}

/// Aborts the object's multipart upload if it has one, deletes the object and removes its pending row.
async fn sweep_object(
    database: &dyn Database,
    store: &BlobStore,
    object: &PendingObject,
) -> anyhow::Result<()> {
    if let Some(upload_id) = &object.upload_id {
        // An upload that was completed or aborted already is not an error, but S3-compatible servers respond to that
        // case differently (AWS with 404, s3s-fs 0.14 with 403), so a failure here is logged and the deletion goes on.
        if let Err(error) = store.abort_multipart(&object.storage_key, upload_id).await {
            tracing::warn!(
                key = %object.storage_key,
                upload_id = %upload_id,
                error = %error,
                "aborting the multipart upload of an unreferenced object failed; its parts may stay in the bucket"
            );
        }
    }
    store.delete(&object.storage_key).await?;
    database.remove_pending_object(&object.storage_key).await?;
    Ok(())
}

/// Runs [`sweep_once`] every `interval` until the task is dropped.
pub async fn run(database: Arc<dyn Database>, store: BlobStore, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        match sweep_once(database.as_ref(), &store).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(objects = count, "swept unreferenced objects"),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "sweeping unreferenced objects failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sqlite::SqliteDatabase;
    use crate::storage::content_hash::HashAlgorithm;
    use bytes::Bytes;

    async fn open(dir: &std::path::Path) -> (SqliteDatabase, BlobStore) {
        let database = SqliteDatabase::open(&dir.join("test.sqlite"))
            .await
            .unwrap();
        let store = BlobStore::local(&dir.join("files")).unwrap();
        (database, store)
    }

    fn no_recorder() -> crate::storage::UploadRecorder {
        Box::new(|_| Box::pin(async { Ok(()) }))
    }

    fn files_under(directory: &std::path::Path) -> Vec<String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(directory).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                names.extend(files_under(&entry.path()));
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        names
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sweep_deletes_due_objects_only() {
        let dir = tempfile::tempdir().unwrap();
        let (database, store) = open(dir.path()).await;
        for key in ["assets/1/due", "assets/1/later"] {
            let mut upload = store
                .start_upload(key, HashAlgorithm::FOR_UPLOADS, no_recorder())
                .await
                .unwrap();
            upload.write(Bytes::from_static(b"bytes")).await.unwrap();
            upload.finish().await.unwrap();
        }
        database
            .add_pending_object("assets/1/due", now_millis() - 1)
            .await
            .unwrap();
        database
            .add_pending_object("assets/1/later", now_millis() + 60_000)
            .await
            .unwrap();

        assert_eq!(sweep_once(&database, &store).await.unwrap(), 1);
        assert_eq!(files_under(&dir.path().join("files")), ["later"]);
        assert!(database
            .due_pending_objects(now_millis(), 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(sweep_once(&database, &store).await.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sweep_failure_postpones_one_object() {
        let dir = tempfile::tempdir().unwrap();
        let (database, store) = open(dir.path()).await;
        let mut upload = store
            .start_upload("assets/1/good", HashAlgorithm::FOR_UPLOADS, no_recorder())
            .await
            .unwrap();
        upload.write(Bytes::from_static(b"bytes")).await.unwrap();
        upload.finish().await.unwrap();
        // A directory where the object should be: deleting it fails with an error other than "not found".
        std::fs::create_dir_all(dir.path().join("files/assets/1/bad/inside")).unwrap();
        for key in ["assets/1/bad", "assets/1/good"] {
            database
                .add_pending_object(key, now_millis() - 1)
                .await
                .unwrap();
        }

        assert_eq!(sweep_once(&database, &store).await.unwrap(), 1);
        assert_eq!(files_under(&dir.path().join("files")), Vec::<String>::new());
        assert!(
            database
                .due_pending_objects(now_millis(), 10)
                .await
                .unwrap()
                .is_empty(),
            "the failed object waits for its retry"
        );
        let later = now_millis() + RETRY_DELAY_MS + 1;
        let retried = database.due_pending_objects(later, 10).await.unwrap();
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].storage_key, "assets/1/bad");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sweep_deletes_staging_file_of_interrupted_upload() {
        let dir = tempfile::tempdir().unwrap();
        let (database, store) = open(dir.path()).await;
        database
            .add_pending_object("assets/1/cut", now_millis() - 1)
            .await
            .unwrap();
        // A process killed during an upload leaves the staging file `{key}#{n}` and no final file.
        let directory = dir.path().join("files").join("assets").join("1");
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("cut#1"), b"partial").unwrap();
        assert_eq!(files_under(&dir.path().join("files")), ["cut#1"]);

        assert_eq!(sweep_once(&database, &store).await.unwrap(), 1);
        assert!(files_under(&dir.path().join("files")).is_empty());
    }
}
