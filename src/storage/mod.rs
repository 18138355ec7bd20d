//! File bytes, kept in an object store behind typed keys.
//!
//! Keys are built only from server-made values (`assets/{repository id}/{asset id}`), never from client strings.
//! On the local file system a finished upload is flushed to disk (file and directory) before it is acknowledged.

pub mod sweep;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};

/// Failure of the object store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object store failure: {0}")]
    Store(#[from] object_store::Error),
    #[error("local file system failure: {0}")]
    Io(#[from] std::io::Error),
}

/// Object store of the assets' bytes.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Root directory when the store is the local file system, to flush finished files.
    local: Option<Arc<LocalFileSystem>>,
}

/// Size and version of a stored object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
}

/// Returns the storage key of an asset's bytes.
pub fn asset_key(repository_id: i64, asset_id: &str) -> String {
    format!("assets/{repository_id}/{asset_id}")
}

impl BlobStore {
    /// Opens a store on a local directory, creating it if needed.
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root)?;
        let store = Arc::new(LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true));
        Ok(Self {
            store: store.clone(),
            local: Some(store),
        })
    }

    /// Starts writing an object; the bytes become visible under `key` when [`Upload::finish`] returns.
    pub async fn start_upload(&self, key: &str) -> Result<Upload, StorageError> {
        let location = ObjectPath::from(key);
        let multipart = self.store.put_multipart(&location).await?;
        Ok(Upload {
            writer: WriteMultipart::new(multipart),
            location,
            store: self.clone(),
        })
    }

    /// Stores a small object in one request, such as a rendered variant.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&ObjectPath::from(key), bytes.into()).await?;
        Ok(())
    }

    /// Reads a whole object into memory.
    pub async fn read(&self, key: &str) -> Result<Bytes, StorageError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound(key.to_owned())),
            Err(error) => Err(error.into()),
        }
    }

    /// Returns the size of an object.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(ObjectInfo { size: meta.size }),
            Err(object_store::Error::NotFound { .. }) => {
                Err(StorageError::NotFound(key.to_owned()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Streams an object, or the byte range `range` of it.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        match self.store.get_opts(&ObjectPath::from(key), options).await {
            Ok(result) => Ok(result
                .into_stream()
                .map(|chunk| chunk.map_err(StorageError::from))
                .boxed()),
            Err(object_store::Error::NotFound { .. }) => {
                Err(StorageError::NotFound(key.to_owned()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes an object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let location = ObjectPath::from(key);
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        self.delete_local_staging(&location).await
    }

    /// Deletes the staging files (`{name}#{n}`) that a local multipart upload leaves when the process is killed
    /// before the upload completes or aborts.
    async fn delete_local_staging(&self, location: &ObjectPath) -> Result<(), StorageError> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let path = local.path_to_filesystem(location)?;
        let (Some(directory), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(());
        };
        let prefix = format!("{}#", name.to_string_lossy());
        let mut entries = match tokio::fs::read_dir(directory).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                match tokio::fs::remove_file(entry.path()).await {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(())
    }

    /// Flushes a finished local file and its directory to disk.
    async fn sync_local(&self, location: &ObjectPath) -> Result<(), StorageError> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let path: PathBuf = local.path_to_filesystem(location)?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&path)?.sync_all()?;
            if let Some(parent) = path.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }
}

/// An object being written in parts; memory is bounded by the part size times the parts in flight.
pub struct Upload {
    writer: WriteMultipart,
    location: ObjectPath,
    store: BlobStore,
}

impl Upload {
    /// Parts uploaded concurrently before `write` waits.
    const MAX_PARTS_IN_FLIGHT: usize = 2;

    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.writer
            .wait_for_capacity(Self::MAX_PARTS_IN_FLIGHT)
            .await?;
        self.writer.put(chunk);
        Ok(())
    }

    /// Completes the object and makes it durable.
    pub async fn finish(self) -> Result<(), StorageError> {
        self.writer.finish().await?;
        self.store.sync_local(&self.location).await
    }

    /// Abandons the object; parts written so far are discarded.
    pub async fn abort(self) {
        if let Err(error) = self.writer.abort().await {
            tracing::warn!(error = %error, key = %self.location, "failed to abort an upload");
        }
    }
}
