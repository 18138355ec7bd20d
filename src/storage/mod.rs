//! File bytes, kept in an object store behind typed keys.
//!
//! Keys are built only from server-made values (`assets/{repository id}/{asset id}`), never from client strings.
//! The store is a directory of the local file system or an S3 bucket (see [`StorageUrl`]). On the local file system
//! an upload is written under a staging name and flushed to disk (file and directory) before it is acknowledged.

pub mod content_hash;
mod local;
mod pipe;
mod storage_url;
pub mod sweep;

use std::collections::VecDeque;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use tokio::task::{JoinHandle, JoinSet};

use content_hash::HashAlgorithm;

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
    /// Recording a multipart upload's id, so that the sweeper can abort it, failed.
    #[error("recording the upload failed: {0:#}")]
    Record(anyhow::Error),
}

/// Records the id of a multipart upload that an [`Upload`] starts (S3 only), before any part is sent. The sweeper
/// aborts recorded uploads that were never completed, such as those of a killed process.
pub type UploadRecorder = Box<dyn FnOnce(String) -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// Object store of the assets' bytes.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The store itself when it is the local file system, for direct file access.
    local: Option<Arc<LocalFileSystem>>,
    /// The bucket when the store is S3, for multipart uploads whose ids are recorded.
    s3: Option<S3Bucket>,
}

/// An S3 bucket and the key prefix of this store inside it.
#[derive(Clone)]
struct S3Bucket {
    client: Arc<AmazonS3>,
    prefix: String,
}

impl S3Bucket {
    /// Returns the bucket path of a store key.
    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix.trim_end_matches('/')))
        }
    }
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
            s3: None,
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
        let client = Arc::new(builder.build()?);
        let s3: Arc<dyn ObjectStore> = client.clone();
        let store = if location.prefix.is_empty() {
            s3
        } else {
            Arc::new(PrefixStore::new(s3, location.prefix.as_str()))
        };
        Ok(Self {
            store,
            local: None,
            s3: Some(S3Bucket {
                client,
                prefix: location.prefix.clone(),
            }),
        })
    }

    /// Starts writing an object, hashed with `algorithm`; the bytes become visible under `key` when
    /// [`Upload::finish`] returns. On S3, an object larger than one part goes up as a multipart upload, whose id is
    /// given to `recorder` first.
    pub async fn start_upload(
        &self,
        key: &str,
        algorithm: HashAlgorithm,
        recorder: UploadRecorder,
    ) -> Result<Upload, StorageError> {
        let location = ObjectPath::from(key);
        let sink = match (&self.local, &self.s3) {
            (Some(local), _) => {
                let path = local.path_to_filesystem(&location)?;
                Sink::Local(local::StagedFile::create(path, algorithm))
            }
            (None, Some(bucket)) => Sink::Remote {
                upload: RemoteUpload {
                    store: self.store.clone(),
                    client: bucket.client.clone(),
                    location,
                    path: bucket.path(key),
                    recorder: Some(recorder),
                    state: RemoteState::Buffering {
                        chunks: Vec::new(),
                        length: 0,
                    },
                },
                hash: HashThread::start(algorithm),
            },
            (None, None) => unreachable!("a store is either local or S3"),
        };
        Ok(Upload { sink })
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

    /// Lists the keys of all stored objects, in no particular order. Staging files of unfinished local uploads are
    /// not listed.
    pub fn list_keys(&self) -> BoxStream<'static, Result<String, StorageError>> {
        self.store
            .list(None)
            .map(|meta| Ok(meta?.location.to_string()))
            .boxed()
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

    /// Aborts a multipart upload of `key` that a killed process left unfinished; an upload that no longer exists
    /// (completed or aborted) is not an error.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        let Some(bucket) = &self.s3 else {
            return Ok(());
        };
        match bucket
            .client
            .abort_multipart(&bucket.path(key), &upload_id.to_owned())
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes the staging files (`{name}#{n}`) that a local upload leaves when the process is killed before the
    /// upload completes or aborts.
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

/// An object being written and hashed.
///
/// Memory is bounded. On the local file system it is the queue of the writing thread (8 MiB). On S3 it is the queue of
/// the hashing thread (8 MiB) plus the part size times the parts in flight and the part being filled.
pub struct Upload {
    sink: Sink,
}

/// A finished object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The hash of the bytes in its stored form (see [`content_hash`]).
    pub content_hash: String,
}

enum Sink {
    /// Hashed and written by the file's own thread.
    Local(local::StagedFile),
    /// Sent to S3 by the request's task and hashed by another thread.
    Remote {
        upload: RemoteUpload,
        hash: HashThread,
    },
}

impl Upload {
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        match &mut self.sink {
            Sink::Local(file) => file.write(chunk).await?,
            Sink::Remote { upload, hash } => {
                hash.send(chunk.clone()).await?;
                upload.write(chunk).await?;
            }
        }
        Ok(())
    }

    /// Completes the object, makes it durable and returns the hash of its bytes.
    pub async fn finish(self) -> Result<StoredObject, StorageError> {
        let content_hash = match self.sink {
            Sink::Local(file) => file.finish().await?,
            Sink::Remote { upload, hash } => {
                let hasher = hash.finish();
                upload.finish().await?;
                hasher.await.map_err(std::io::Error::other)?
            }
        };
        Ok(StoredObject { content_hash })
    }

    /// Abandons the object; bytes written so far are discarded.
    pub async fn abort(self) {
        let outcome = match self.sink {
            Sink::Local(file) => file.abort().await.map_err(StorageError::from),
            Sink::Remote { upload, hash } => {
                drop(hash);
                upload.abort().await
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(error = %error, "failed to abort an upload");
        }
    }
}

/// A thread that hashes the chunks sent to it.
struct HashThread {
    sender: pipe::PipeSender,
    hasher: JoinHandle<String>,
}

impl HashThread {
    fn start(algorithm: HashAlgorithm) -> Self {
        let (sender, hasher) = pipe::spawn(HASH_PIPE_BUDGET_BYTES, move |mut receiver| {
            let mut hasher = algorithm.hasher();
            while let Some(piece) = receiver.recv() {
                hasher.update(&piece.chunk);
            }
            hasher.finish()
        });
        Self { sender, hasher }
    }

    async fn send(&self, chunk: Bytes) -> Result<(), StorageError> {
        self.sender
            .send(chunk)
            .await
            .map_err(|_| std::io::Error::other("the hashing thread stopped").into())
    }

    /// Ends the input and returns the thread, which ends with the hash once it has hashed every chunk.
    fn finish(self) -> JoinHandle<String> {
        drop(self.sender);
        self.hasher
    }
}

/// An upload to S3: the first part is kept in memory, so a small object is sent in one request. A larger one becomes
/// a multipart upload of fixed-size parts, a few of them in flight at a time.
struct RemoteUpload {
    store: Arc<dyn ObjectStore>,
    client: Arc<AmazonS3>,
    /// The key inside the store, and the same object's path in the bucket.
    location: ObjectPath,
    path: ObjectPath,
    recorder: Option<UploadRecorder>,
    state: RemoteState,
}

enum RemoteState {
    Buffering { chunks: Vec<Bytes>, length: usize },
    Streaming(Multipart),
}

/// A multipart upload in progress.
struct Multipart {
    id: String,
    /// Bytes of the next part, not sent yet.
    chunks: VecDeque<Bytes>,
    length: usize,
    /// Ids of the finished parts by index; `None` while a part is in flight.
    parts: Vec<Option<PartId>>,
    in_flight: JoinSet<Result<(usize, PartId), object_store::Error>>,
}

impl RemoteUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        match &mut self.state {
            RemoteState::Buffering { chunks, length } => {
                *length += chunk.len();
                chunks.push(chunk);
                if *length >= REMOTE_PART_BYTES {
                    let chunks = std::mem::take(chunks);
                    let multipart = self.start_multipart(chunks).await?;
                    self.state = RemoteState::Streaming(multipart);
                    self.send_full_parts().await?;
                }
            }
            RemoteState::Streaming(multipart) => {
                multipart.length += chunk.len();
                multipart.chunks.push_back(chunk);
                self.send_full_parts().await?;
            }
        }
        Ok(())
    }

    /// Creates the multipart upload and records its id before any part is sent.
    async fn start_multipart(&mut self, chunks: Vec<Bytes>) -> Result<Multipart, StorageError> {
        let id = self.client.create_multipart(&self.path).await?;
        if let Some(recorder) = self.recorder.take() {
            if let Err(error) = recorder(id.clone()).await {
                let _ = self.client.abort_multipart(&self.path, &id).await;
                return Err(StorageError::Record(error));
            }
        }
        let length = chunks.iter().map(Bytes::len).sum();
        Ok(Multipart {
            id,
            chunks: chunks.into(),
            length,
            parts: Vec::new(),
            in_flight: JoinSet::new(),
        })
    }

    /// Sends every complete part that is buffered, waiting while too many are in flight.
    async fn send_full_parts(&mut self) -> Result<(), StorageError> {
        let RemoteState::Streaming(multipart) = &mut self.state else {
            return Ok(());
        };
        while multipart.length >= REMOTE_PART_BYTES {
            let part = take_prefix(&mut multipart.chunks, REMOTE_PART_BYTES);
            multipart.length -= REMOTE_PART_BYTES;
            multipart.send(&self.client, &self.path, part).await?;
        }
        Ok(())
    }

    async fn finish(self) -> Result<(), StorageError> {
        match self.state {
            RemoteState::Buffering { chunks, .. } => {
                let payload: PutPayload = chunks.into_iter().collect();
                self.store.put(&self.location, payload).await?;
            }
            RemoteState::Streaming(mut multipart) => {
                let result = multipart.complete(&self.client, &self.path).await;
                if result.is_err() {
                    multipart.in_flight.abort_all();
                    let _ = self.client.abort_multipart(&self.path, &multipart.id).await;
                }
                result?;
            }
        }
        Ok(())
    }

    async fn abort(self) -> Result<(), StorageError> {
        match self.state {
            RemoteState::Buffering { .. } => Ok(()),
            RemoteState::Streaming(mut multipart) => {
                multipart.in_flight.abort_all();
                while multipart.in_flight.join_next().await.is_some() {}
                Ok(self
                    .client
                    .abort_multipart(&self.path, &multipart.id)
                    .await?)
            }
        }
    }
}

impl Multipart {
    /// Starts sending the next part; first waits for one to finish when the limit of parts in flight is reached.
    async fn send(
        &mut self,
        client: &Arc<AmazonS3>,
        path: &ObjectPath,
        part: PutPayload,
    ) -> Result<(), StorageError> {
        while self.in_flight.len() >= REMOTE_PARTS_IN_FLIGHT {
            self.collect_one().await?;
        }
        let index = self.parts.len();
        self.parts.push(None);
        let (client, path, id) = (client.clone(), path.clone(), self.id.clone());
        self.in_flight.spawn(async move {
            let part_id = client.put_part(&path, &id, index, part).await?;
            Ok((index, part_id))
        });
        Ok(())
    }

    /// Waits for one part in flight and records its id.
    async fn collect_one(&mut self) -> Result<(), StorageError> {
        let Some(joined) = self.in_flight.join_next().await else {
            return Ok(());
        };
        let (index, part_id) = joined.map_err(std::io::Error::other)??;
        self.parts[index] = Some(part_id);
        Ok(())
    }

    /// Sends the last part, waits for all parts and completes the upload.
    async fn complete(
        &mut self,
        client: &Arc<AmazonS3>,
        path: &ObjectPath,
    ) -> Result<(), StorageError> {
        if self.length > 0 {
            let part = take_prefix(&mut self.chunks, self.length);
            self.length = 0;
            self.send(client, path, part).await?;
        }
        while !self.in_flight.is_empty() {
            self.collect_one().await?;
        }
        let parts = self
            .parts
            .iter_mut()
            .map(|part| part.take().expect("every part finished"))
            .collect();
        client.complete_multipart(path, &self.id, parts).await?;
        Ok(())
    }
}

/// Removes the first `length` bytes from `chunks` and returns them as one payload, without copying bytes.
fn take_prefix(chunks: &mut VecDeque<Bytes>, length: usize) -> PutPayload {
    let mut taken = Vec::new();
    let mut needed = length;
    while let Some(first) = chunks.front_mut() {
        if needed == 0 {
            break;
        }
        if first.len() <= needed {
            needed -= first.len();
            taken.extend(chunks.pop_front());
        } else {
            taken.push(first.split_to(needed));
            needed = 0;
        }
    }
    taken.into_iter().collect()
}
