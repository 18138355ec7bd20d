//! Deletion of objects that no asset references: bytes of interrupted uploads once their grace period has passed,
//! and bytes of deleted assets whose immediate deletion failed.
//!
//! The list of such objects is kept in the database, so several servers can sweep the same store: deleting an object
//! twice is harmless, and an upload still in progress is protected by its grace period. On S3, the multipart upload
//! of an interrupted upload is aborted too, so its parts do not stay in the bucket.

use std::sync::Arc;
use std::time::Duration;

use crate::db::Database;
use crate::domain::now_millis;
use crate::storage::BlobStore;

/// Objects handled per sweep query.
const BATCH: u32 = 100;

/// Deletes every pending object that is due; returns how many were deleted.
pub async fn sweep_once(database: &dyn Database, store: &BlobStore) -> anyhow::Result<usize> {
    let mut deleted = 0;
    loop {
        let objects = database.due_pending_objects(now_millis(), BATCH).await?;
        if objects.is_empty() {
            return Ok(deleted);
        }
        for object in &objects {
            // Aborting first keeps a part still in flight from creating the object after its deletion.
            if let Some(upload_id) = &object.upload_id {
                store
                    .abort_multipart(&object.storage_key, upload_id)
                    .await?;
            }
            store.delete(&object.storage_key).await?;
            database.remove_pending_object(&object.storage_key).await?;
            deleted += 1;
        }
        if objects.len() < BATCH as usize {
            return Ok(deleted);
        }
    }
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
            let mut upload = store.start_upload(key, no_recorder()).await.unwrap();
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
