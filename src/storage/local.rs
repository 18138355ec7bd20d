//! Uploads to the local file system: one blocking thread creates a staging file, hashes every chunk and writes it.
//!
//! The request task only queues chunks, so an upload crosses one thread besides the request's own. Hashing on the
//! writing thread keeps up with the network: BLAKE3 takes about an eighth of the time of writing the same bytes to
//! the page cache.
//!
//! The staging file is `{final path}#{n}`, the name `object_store`'s `LocalFileSystem` uses for its own multipart
//! uploads: listings skip it, and [`super::BlobStore::delete`] removes it with the final file. When the upload
//! finishes, the thread renames the file to its final name, then flushes the file and its directory (and the parents
//! of directories it created) at the same time: flushes in flight together take less time than one after the other.
//! The upload's asset row is written only once all of them are done, so no row names bytes that a power loss could
//! take. An aborted upload never gets its final name.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::content_hash::HashAlgorithm;
use super::pipe::{self, PipeReceiver, PipeSender};

/// Unwritten bytes the writer thread may have queued.
const PIPE_BUDGET_BYTES: u32 = 8 * 1024 * 1024;
/// Bytes written between two requests to the kernel to start writing the file back to disk, at the start of a file.
/// Starting early lets the disk work while the rest of the body arrives, so the final flush has less left to wait
/// for. With this window, the final flush of a 1 MiB upload took half as long as with none (docs/benchmarks.md).
const MIN_WRITEBACK_WINDOW: u64 = 128 * 1024;
/// Largest window, reached once 64 MiB are written. Each request costs a system call, and large files arrive in
/// large chunks.
const MAX_WRITEBACK_WINDOW: u64 = 8 * 1024 * 1024;

/// A file being written under its staging name.
pub(super) struct StagedFile {
    sender: Option<PipeSender>,
    /// Ends with the hash of the bytes once the file is durable under its final name.
    worker: Option<JoinHandle<io::Result<String>>>,
    /// Set just before the sender is dropped, to ask the writer thread to make the file durable under its final
    /// name. When the sender is dropped without it, the thread deletes the staging file.
    finishing: Arc<AtomicBool>,
}

impl StagedFile {
    /// Starts the thread that creates the staging file of `destination` (and its parent directories if needed), then
    /// writes and hashes what [`StagedFile::write`] queues. A failure to create the file is reported by the first
    /// write or by [`StagedFile::finish`].
    pub fn create(destination: PathBuf, algorithm: HashAlgorithm) -> Self {
        let finishing = Arc::new(AtomicBool::new(false));
        let flag = finishing.clone();
        let (sender, worker) = pipe::spawn(PIPE_BUDGET_BYTES, move |receiver| {
            write_until_closed(destination, algorithm, receiver, &flag)
        });
        Self {
            sender: Some(sender),
            worker: Some(worker),
            finishing,
        }
    }

    /// Queues a chunk for the writer thread; waits while it has [`PIPE_BUDGET_BYTES`] queued.
    pub async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        let sender = self
            .sender
            .as_ref()
            .expect("the file is open until finish or abort");
        if sender.send(chunk).await.is_ok() {
            return Ok(());
        }
        // The thread stopped early: its result is the error to report.
        self.sender = None;
        match self.join().await {
            Ok(_) => Err(io::Error::other(
                "the file writer stopped before the upload ended",
            )),
            Err(error) => Err(error),
        }
    }

    /// Writes the queued chunks, gives the file its final name, flushes it and its directory, and returns the hash of
    /// its bytes.
    pub async fn finish(mut self) -> io::Result<String> {
        self.finishing.store(true, Ordering::Release);
        self.sender = None;
        self.join().await
    }

    /// Stops writing and deletes the staging file.
    pub async fn abort(mut self) -> io::Result<()> {
        self.sender = None;
        if self.worker.is_none() {
            // A failed write already ended the thread, which deleted the staging file.
            return Ok(());
        }
        match self.join().await {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn join(&mut self) -> io::Result<String> {
        let Some(worker) = self.worker.take() else {
            return Err(io::Error::other("the file writer already ended"));
        };
        worker.await.map_err(io::Error::other)?
    }
}

/// Paths of an upload, for the writer thread.
struct Target {
    staging: PathBuf,
    destination: PathBuf,
    /// Directories created for this upload, deepest first; their parents are flushed with the file's directory.
    created_directories: Vec<PathBuf>,
}

/// Opens a new staging file next to `destination`, creating missing directories.
fn create_staging_file(destination: &Path) -> io::Result<(File, PathBuf, Vec<PathBuf>)> {
    let mut created = Vec::new();
    let mut created_directories = false;
    let mut suffix = 1u32;
    loop {
        let mut name = destination.as_os_str().to_owned();
        name.push(format!("#{suffix}"));
        let staging = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => return Ok((file, staging, created)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => suffix += 1,
            // Another upload may create the same directories at the same time, so `created` can be empty here.
            Err(error) if error.kind() == io::ErrorKind::NotFound && !created_directories => {
                let parent = destination
                    .parent()
                    .ok_or_else(|| io::Error::other("a stored file has no parent directory"))?;
                created = create_directories(parent)?;
                created_directories = true;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Creates `directory` and its missing ancestors; returns the ones created, deepest first.
fn create_directories(directory: &Path) -> io::Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = directory
        .ancestors()
        .take_while(|ancestor| !ancestor.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(directory)?;
    Ok(missing)
}

/// Body of the writer thread: creates the staging file, hashes and writes every chunk, then either finishes the file
/// and returns the hash or deletes the file.
fn write_until_closed(
    destination: PathBuf,
    algorithm: HashAlgorithm,
    receiver: PipeReceiver,
    finishing: &AtomicBool,
) -> io::Result<String> {
    let (file, staging, created_directories) = create_staging_file(&destination)?;
    let target = Target {
        staging,
        destination,
        created_directories,
    };

    let mut hasher = algorithm.hasher();
    let written = write_chunks(&file, receiver, |chunk| hasher.update(chunk));
    let finish = finishing.load(Ordering::Acquire);
    let outcome = match written {
        Ok(()) if finish => make_durable(file, &target).map(|()| hasher.finish()),
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the upload was aborted",
        )),
        Err(error) => Err(error),
    };
    if outcome.is_err() {
        // A failed flush comes after the rename.
        remove_if_present(&target.staging);
        remove_if_present(&target.destination);
    }
    outcome
}

/// Writes every chunk to the file, after handing it to `hash`.
fn write_chunks(
    mut file: &File,
    mut receiver: PipeReceiver,
    mut hash: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut written: u64 = 0;
    let mut submitted: u64 = 0;
    while let Some(piece) = receiver.recv() {
        hash(&piece.chunk);
        file.write_all(&piece.chunk)?;
        written += piece.chunk.len() as u64;
        if written - submitted >= writeback_window(written) {
            start_writeback(file, submitted, written - submitted);
            submitted = written;
        }
    }
    Ok(())
}

/// Renames the file to its final name, then flushes it and each directory whose entries changed, all at once: one
/// thread per directory.
fn make_durable(file: File, target: &Target) -> io::Result<()> {
    std::fs::rename(&target.staging, &target.destination)?;
    let directory = target
        .destination
        .parent()
        .ok_or_else(|| io::Error::other("a stored file has no parent directory"))?;
    let parents = target
        .created_directories
        .iter()
        .filter_map(|created| created.parent());
    let directories: Vec<&Path> = std::iter::once(directory).chain(parents).collect();
    std::thread::scope(|scope| {
        let flushes: Vec<_> = directories
            .iter()
            .map(|directory| scope.spawn(|| sync_directory(directory)))
            .collect();
        let mut outcome = file.sync_data();
        for flush in flushes {
            let flushed = flush
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("flushing a directory panicked")));
            outcome = outcome.and(flushed);
        }
        outcome
    })
}

fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

fn remove_if_present(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "failed to delete the file of a failed upload")
        }
    }
}

/// Returns the bytes to write before the next writeback request, after `written` bytes: an eighth of what is written,
/// within the bounds above.
fn writeback_window(written: u64) -> u64 {
    (written / 8).clamp(MIN_WRITEBACK_WINDOW, MAX_WRITEBACK_WINDOW)
}

/// Asks the kernel to start writing a range of the file to disk, without waiting for it. The final `fsync` still
/// decides durability; this only moves the disk work earlier.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, length: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(length)) = (i64::try_from(offset), i64::try_from(length)) else {
        return;
    };
    // SAFETY: the descriptor is open for the duration of the call, and the call reads no memory of this process.
    let result = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset,
            length,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if result != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "sync_file_range failed; the final fsync writes the file");
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _length: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging_files(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finished_file_gets_final_name_and_hash() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("assets").join("7").join("object");
        let mut file = StagedFile::create(destination.clone(), HashAlgorithm::Blake3);
        file.write(Bytes::from_static(b"hello ")).await.unwrap();
        file.write(Bytes::from_static(b"world")).await.unwrap();
        let hash = file.finish().await.unwrap();

        assert_eq!(staging_files(destination.parent().unwrap()), ["object"]);
        assert_eq!(std::fs::read(&destination).unwrap(), b"hello world");
        let mut expected = HashAlgorithm::Blake3.hasher();
        expected.update(b"hello world");
        assert_eq!(hash, expected.finish());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aborted_file_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("object");
        let mut file = StagedFile::create(destination.clone(), HashAlgorithm::Blake3);
        file.write(Bytes::from_static(b"partial")).await.unwrap();
        file.abort().await.unwrap();
        assert!(staging_files(root.path()).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_file_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("object");
        let mut file = StagedFile::create(destination.clone(), HashAlgorithm::Blake3);
        file.write(Bytes::from_static(b"partial")).await.unwrap();
        let worker = file.worker.take().unwrap();
        drop(file);
        assert!(worker.await.unwrap().is_err());
        assert!(staging_files(root.path()).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failure_to_create_is_reported() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("assets"),
            b"a file where a directory belongs",
        )
        .unwrap();
        let mut file = StagedFile::create(
            root.path().join("assets").join("object"),
            HashAlgorithm::Blake3,
        );
        let written = file.write(Bytes::from_static(b"bytes")).await;
        let outcome = match written {
            Ok(()) => file.finish().await.map(|_| ()),
            Err(error) => Err(error),
        };
        assert!(outcome.is_err(), "writing under a file should fail");
    }

    #[test]
    fn concurrent_uploads_get_distinct_staging_files() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("object");
        let (_first, first_name, _) = create_staging_file(&destination).unwrap();
        let (_second, second_name, _) = create_staging_file(&destination).unwrap();
        assert_eq!(first_name, root.path().join("object#1"));
        assert_eq!(second_name, root.path().join("object#2"));
    }
}
