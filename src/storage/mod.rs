//! File bytes, kept in an object store behind typed keys.
//!
//! Keys are built only from server-made values (`assets/{repository id}/{asset id}`), never from client strings.
//! The store is a directory of the local file system or an S3 bucket (see [`StorageUrl`]). On the local file system
//! an upload is written under a staging name and flushed to disk (file and directory) before it is acknowledged.

mod local;
mod pipe;
mod storage_url;
pub mod sweep;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

pub use storage_url::{S3Location, StorageUrl};

/// Failure of the object store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object store failure: {0}")]
    Store(#[from] object_store::Error),
    #[error("local file system failure: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Object store of the assets' bytes.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The store itself when it is the local file system, for direct file access.
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
    /// Opens the store that a storage URL names. Opening an S3 store sends no request.
    pub fn open(url: &StorageUrl) -> Result<Self, StorageError> {
        match url {
            StorageUrl::File(root) => Self::local(root),
            StorageUrl::S3(location) => Self::s3(location),
        }
    }

    /// Opens a store on a local directory, creating it if needed.
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root)?;
        let store = Arc::new(LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true));
        Ok(Self {
            store: store.clone(),
            local: Some(store),
        })
    }

    /// Opens a store on an S3 bucket, with credentials and options from the `AWS_*` environment variables.
    pub fn s3(location: &S3Location) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::new();
        let mut has_credentials = false;
        for (name, value) in std::env::vars() {
            let Some(key) = name
                .starts_with("AWS_")
                .then(|| name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok())
                .flatten()
            else {
                continue;
            };
            // The storage URL alone decides the bucket, the endpoint and whether plain HTTP is allowed.
            if matches!(
                key,
                AmazonS3ConfigKey::Bucket
                    | AmazonS3ConfigKey::Endpoint
                    | AmazonS3ConfigKey::Client(_)
            ) {
                continue;
            }
            has_credentials |= matches!(
                key,
                AmazonS3ConfigKey::SecretAccessKey
                    | AmazonS3ConfigKey::WebIdentityTokenFile
                    | AmazonS3ConfigKey::ContainerCredentialsRelativeUri
                    | AmazonS3ConfigKey::ContainerCredentialsFullUri
                    | AmazonS3ConfigKey::MetadataEndpoint
                    | AmazonS3ConfigKey::SkipSignature
            );
            builder = builder.with_config(key, value);
        }
        // Without any of these, the S3 client would ask the instance metadata service for credentials. That happens
        // only when AWS_METADATA_ENDPOINT asks for it, so a missing variable is reported instead of sending requests to
        // a metadata address.
        if !has_credentials {
            return Err(StorageError::Config(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_WEB_IDENTITY_TOKEN_FILE, \
                 or AWS_METADATA_ENDPOINT for instance credentials)"
                    .to_owned(),
            ));
        }

        builder = builder.with_bucket_name(&location.bucket);
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(location.is_plain_http());
        }
        if let Some(region) = &location.region {
            builder = builder.with_region(region);
        }
        let s3: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
        let store = if location.prefix.is_empty() {
            s3
        } else {
            Arc::new(PrefixStore::new(s3, location.prefix.as_str()))
        };
        Ok(Self { store, local: None })
    }

    /// Starts writing an object; the bytes become visible under `key` when [`Upload::finish`] returns.
    pub async fn start_upload(&self, key: &str) -> Result<Upload, StorageError> {
        let location = ObjectPath::from(key);
        let sink = match &self.local {
            Some(local) => {
                let path = local.path_to_filesystem(&location)?;
                Sink::Local(local::StagedFile::create(path).await?)
            }
            None => Sink::Remote(RemoteUpload {
                store: self.store.clone(),
                location,
                state: RemoteState::Buffering {
                    chunks: Vec::new(),
                    length: 0,
                },
            }),
        };
        let (hash_sender, hasher) = pipe::spawn(HASH_PIPE_BUDGET_BYTES, |mut receiver| {
            let mut hasher = Sha256::new();
            while let Some(piece) = receiver.recv() {
                hasher.update(&piece.chunk);
            }
            let digest: [u8; 32] = hasher.finalize().into();
            digest
        });
        Ok(Upload {
            sink,
            hash_sender: Some(hash_sender),
            hasher,
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
            Err(object_store::Error::NotFound { .. }) => {
                Err(StorageError::NotFound(key.to_owned()))
            }
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

    /// Deletes the staging files (`{name}#{n}`) that a local upload leaves when the process is killed before the
    /// upload completes or aborts.
    ///
    /// NOTE: an S3 multipart upload interrupted the same way keeps its parts until a lifecycle rule of the bucket
    /// (`AbortIncompleteMultipartUpload`) removes them, because the store does not record upload ids.
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
}

/// Unhashed bytes the hashing thread may have queued.
const HASH_PIPE_BUDGET_BYTES: u32 = 8 * 1024 * 1024;
/// Size of the parts of an S3 multipart upload, and the size below which an object is sent in one request.
const REMOTE_PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of an S3 multipart upload sent concurrently before `write` waits.
const REMOTE_PARTS_IN_FLIGHT: usize = 2;

/// An object being written, and the SHA-256 of its bytes being computed on another thread.
///
/// Memory is bounded: on the local file system by the queues of the writing and hashing threads (8 MiB each), on
/// S3 by the part size times the parts in flight plus the part being filled.
pub struct Upload {
    sink: Sink,
    hash_sender: Option<pipe::PipeSender>,
    hasher: JoinHandle<[u8; 32]>,
}

/// A finished object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub sha256: [u8; 32],
}

enum Sink {
    Local(local::StagedFile),
    Remote(RemoteUpload),
}

impl Upload {
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let hash_sender = self
            .hash_sender
            .as_ref()
            .expect("the upload is open until finish or abort");
        if hash_sender.send(chunk.clone()).await.is_err() {
            return Err(std::io::Error::other("the hashing thread stopped").into());
        }
        match &mut self.sink {
            Sink::Local(file) => file.write(chunk).await?,
            Sink::Remote(upload) => upload.write(chunk).await?,
        }
        Ok(())
    }

    /// Completes the object, makes it durable and returns the SHA-256 of its bytes.
    pub async fn finish(mut self) -> Result<StoredObject, StorageError> {
        self.hash_sender = None;
        match self.sink {
            Sink::Local(file) => file.finish().await?,
            Sink::Remote(upload) => upload.finish().await?,
        }
        let sha256 = self.hasher.await.map_err(std::io::Error::other)?;
        Ok(StoredObject { sha256 })
    }

    /// Abandons the object; bytes written so far are discarded.
    pub async fn abort(self) {
        drop(self.hash_sender);
        let outcome = match self.sink {
            Sink::Local(file) => file.abort().await.map_err(StorageError::from),
            Sink::Remote(upload) => upload.abort().await,
        };
        if let Err(error) = outcome {
            tracing::warn!(error = %error, "failed to abort an upload");
        }
    }
}

/// An upload to S3: the first part is kept in memory, so a small object is sent in one request.
struct RemoteUpload {
    store: Arc<dyn ObjectStore>,
    location: ObjectPath,
    state: RemoteState,
}

enum RemoteState {
    Buffering { chunks: Vec<Bytes>, length: usize },
    Streaming(WriteMultipart),
}

impl RemoteUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        match &mut self.state {
            RemoteState::Buffering { chunks, length } => {
                *length += chunk.len();
                chunks.push(chunk);
                if *length >= REMOTE_PART_BYTES {
                    let chunks = std::mem::take(chunks);
                    let multipart = self.store.put_multipart(&self.location).await?;
                    let mut writer =
                        WriteMultipart::new_with_chunk_size(multipart, REMOTE_PART_BYTES);
                    for chunk in chunks {
                        writer.put(chunk);
                    }
                    self.state = RemoteState::Streaming(writer);
                }
            }
            RemoteState::Streaming(writer) => {
                writer.wait_for_capacity(REMOTE_PARTS_IN_FLIGHT).await?;
                writer.put(chunk);
            }
        }
        Ok(())
    }

    async fn finish(self) -> Result<(), StorageError> {
        match self.state {
            RemoteState::Buffering { chunks, .. } => {
                let payload: PutPayload = chunks.into_iter().collect();
                self.store.put(&self.location, payload).await?;
            }
            RemoteState::Streaming(writer) => {
                writer.finish().await?;
            }
        }
        Ok(())
    }

    async fn abort(self) -> Result<(), StorageError> {
        match self.state {
            RemoteState::Buffering { .. } => Ok(()),
            RemoteState::Streaming(writer) => Ok(writer.abort().await?),
        }
    }
}
