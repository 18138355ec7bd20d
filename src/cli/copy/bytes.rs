//! Streaming an asset's bytes from the source store to the target store, and hashing stored bytes.

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::time::Instant;

use crate::db::copy::CopiedAsset;
use crate::storage::content_hash::HashAlgorithm;
use crate::storage::{BlobStore, StorageError, UploadRecorder};

/// Keeps the average rate of copied bytes, since the copy started, at or below a limit.
pub struct BandwidthLimit {
    bytes_per_second: u64,
    start: Instant,
    bytes: Mutex<u64>,
}

impl BandwidthLimit {
    /// Creates a limit of `bytes_per_second`, where 0 means no limit.
    pub fn new(bytes_per_second: u64) -> Self {
        Self {
            bytes_per_second,
            start: Instant::now(),
            bytes: Mutex::new(0),
        }
    }

    /// Counts `bytes` and waits until sending them keeps the average rate within the limit.
    pub async fn take(&self, bytes: usize) {
        if self.bytes_per_second == 0 {
            return;
        }
        let due = {
            let mut total = self.bytes.lock().expect("the byte count is never poisoned");
            *total += bytes as u64;
            self.start + Duration::from_secs_f64(*total as f64 / self.bytes_per_second as f64)
        };
        tokio::time::sleep_until(due).await;
    }
}

/// Result of copying one asset's bytes.
pub enum CopyOutcome {
    /// The bytes are in the target store and match the source row's size and hash.
    Copied(CopiedAsset),
    /// The source store does not have the bytes that the source row describes; nothing was kept in the target.
    SourceProblem { asset: CopiedAsset, problem: String },
}

/// Copies the bytes of `asset` from `source` to `target` under the same key, streaming them with bounded memory,
/// and checks their size and hash against the source row. With `clear_first`, the target key and any staging
/// file that an interrupted earlier run left there are deleted before.
///
/// Failures of either store are errors. Bytes that are missing from the source or differ from its row are a
/// [`CopyOutcome::SourceProblem`] instead, so the copy can go on with the other assets.
pub async fn copy_asset_bytes(
    source: &BlobStore,
    target: &BlobStore,
    asset: CopiedAsset,
    clear_first: bool,
    limit: &BandwidthLimit,
    progress: &ProgressBar,
) -> anyhow::Result<CopyOutcome> {
    let key = asset.storage_key.as_str();
    let Some(algorithm) = HashAlgorithm::of(&asset.content_hash) else {
        return Ok(CopyOutcome::SourceProblem {
            problem: format!(
                "its row's content hash {:?} names no algorithm that this version knows",
                asset.content_hash
            ),
            asset,
        });
    };
    if clear_first {
        target.delete(key).await?;
    }
    let mut chunks = match source.get(key, None).await {
        Ok(chunks) => chunks,
        Err(StorageError::NotFound(_)) => {
            return Ok(CopyOutcome::SourceProblem {
                problem: format!("its bytes ({key}) are missing from the source file store"),
                asset,
            })
        }
        Err(error) => return Err(error.into()),
    };

    // NOTE: the recorder records nothing, so the target's sweeper never aborts an S3 multipart upload (objects over
    // 8 MiB) that a killed copy cut off. Its parts stay until a lifecycle rule of the bucket removes them.
    let recorder: UploadRecorder = Box::new(|_| Box::pin(async { Ok(()) }));
    let mut upload = target.start_upload(key, algorithm, recorder).await?;
    let mut size: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                upload.abort().await;
                return Err(error.into());
            }
        };
        limit.take(chunk.len()).await;
        size += chunk.len() as u64;
        progress.inc(chunk.len() as u64);
        if let Err(error) = upload.write(chunk).await {
            upload.abort().await;
            return Err(error.into());
        }
    }
    let stored = upload.finish().await?;

    let problem = if i64::try_from(size).ok() != Some(asset.size) {
        Some(format!(
            "its bytes in the source file store are {size} bytes long, but its row says {}",
            asset.size
        ))
    } else if stored.content_hash != asset.content_hash {
        Some(format!(
            "the hash of its bytes in the source file store is {}, but its row says {}",
            stored.content_hash, asset.content_hash
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => {
            target.delete(key).await?;
            Ok(CopyOutcome::SourceProblem { asset, problem })
        }
        None => Ok(CopyOutcome::Copied(asset)),
    }
}

/// Reads the object `key` of `store` and returns its size and hash in the stored form; `None` when it is missing.
pub async fn hash_object(
    store: &BlobStore,
    key: &str,
    algorithm: HashAlgorithm,
    progress: &ProgressBar,
) -> anyhow::Result<Option<(u64, String)>> {
    let mut chunks = match store.get(key, None).await {
        Ok(chunks) => chunks,
        Err(StorageError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mut hasher = algorithm.hasher();
    let mut size: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        progress.inc(chunk.len() as u64);
        hasher.update(&chunk);
    }
    Ok(Some((size, hasher.finish())))
}
