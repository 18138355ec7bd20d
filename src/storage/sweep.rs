//! Deletion of objects that no asset references: bytes of interrupted uploads once their grace period has passed,
//! and bytes of deleted assets whose immediate deletion failed.
//!
//! The list of such objects is kept in the database, so several servers can sweep the same store: deleting an object
//! twice is harmless, and an upload still in progress is protected by its grace period.

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
        let keys = database.due_pending_objects(now_millis(), BATCH).await?;
        if keys.is_empty() {
            return Ok(deleted);
        }
        for key in &keys {
            store.delete(key).await?;
            database.remove_pending_object(key).await?;
            deleted += 1;
        }
        if keys.len() < BATCH as usize {
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
