//! Uploads to the local file system, written directly to a staging file by a blocking thread.
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

use super::pipe::{self, PipeReceiver, PipeSender};

/// Unwritten bytes the writer thread may have queued.
const PIPE_BUDGET_BYTES: u32 = 8 * 1024 * 1024;
/// Bytes written between two requests to the kernel to start writing the file back to disk. Starting early lets
/// the disk work while the rest of the body arrives, so the final flush has less left to wait for.
const WRITEBACK_WINDOW: u64 = 8 * 1024 * 1024;

/// A file being written under its staging name.
pub(super) struct StagedFile {
    sender: Option<PipeSender>,
    worker: Option<JoinHandle<io::Result<()>>>,
    /// Set just before the sender is dropped, to ask the writer thread to make the file durable under its final
    /// name. When the sender is dropped without it, the thread deletes the staging file.
    finishing: Arc<AtomicBool>,
}

impl StagedFile {
    /// Creates the staging file of `destination`, and its parent directories if needed.
    pub async fn create(destination: PathBuf) -> io::Result<Self> {
        let (file, staging, created_directories, destination) =
            tokio::task::spawn_blocking(move || {
                let (file, staging, created) = create_staging_file(&destination)?;
                Ok::<_, io::Error>((file, staging, created, destination))
            })
            .await
            .map_err(io::Error::other)??;
        let finishing = Arc::new(AtomicBool::new(false));
        let flag = finishing.clone();
        let (sender, worker) = pipe::spawn(PIPE_BUDGET_BYTES, move |receiver| {
            let target = Target {
                staging,
                destination,
                created_directories,
            };
            write_until_closed(file, receiver, &target, &flag)
        });
        Ok(Self {
            sender: Some(sender),
            worker: Some(worker),
            finishing,
        })
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
            Ok(()) => Err(io::Error::other(
                "the file writer stopped before the upload ended",
            )),
            Err(error) => Err(error),
        }
    }

    /// Writes the queued chunks, flushes the file, gives it its final name and flushes the directory.
    pub async fn finish(mut self) -> io::Result<()> {
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
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn join(&mut self) -> io::Result<()> {
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

/// Body of the writer thread: writes every chunk, then either finishes the file or deletes it.
fn write_until_closed(
    file: File,
    receiver: PipeReceiver,
    target: &Target,
    finishing: &AtomicBool,
) -> io::Result<()> {
    let written = write_chunks(&file, receiver);
    let finish = finishing.load(Ordering::Acquire);
    let outcome = match written {
        Ok(()) if finish => make_durable(file, target),
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

fn write_chunks(mut file: &File, mut receiver: PipeReceiver) -> io::Result<()> {
    let mut written: u64 = 0;
    let mut submitted: u64 = 0;
    while let Some(piece) = receiver.recv() {
        file.write_all(&piece.chunk)?;
        written += piece.chunk.len() as u64;
        if written - submitted >= WRITEBACK_WINDOW {
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
        let mut outcome = file.sync_all();
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
    async fn finished_file_gets_final_name() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("assets").join("7").join("object");
        let mut file = StagedFile::create(destination.clone()).await.unwrap();
        let directory = destination.parent().unwrap();
        assert_eq!(staging_files(directory), ["object#1"]);

        file.write(Bytes::from_static(b"hello ")).await.unwrap();
        file.write(Bytes::from_static(b"world")).await.unwrap();
        file.finish().await.unwrap();
        assert_eq!(staging_files(directory), ["object"]);
        assert_eq!(std::fs::read(&destination).unwrap(), b"hello world");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aborted_file_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("object");
        let mut file = StagedFile::create(destination.clone()).await.unwrap();
        file.write(Bytes::from_static(b"partial")).await.unwrap();
        file.abort().await.unwrap();
        assert!(staging_files(root.path()).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_file_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("object");
        let mut file = StagedFile::create(destination.clone()).await.unwrap();
        file.write(Bytes::from_static(b"partial")).await.unwrap();
        let worker = file.worker.take().unwrap();
        drop(file);
        assert!(worker.await.unwrap().is_err());
        assert!(staging_files(root.path()).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uploads_get_distinct_staging_files() {
        let root = tempfile::tempdir().unwrap();
        let destination = root.path().join("object");
        let first = StagedFile::create(destination.clone()).await.unwrap();
        let second = StagedFile::create(destination.clone()).await.unwrap();
        assert_eq!(staging_files(root.path()), ["object#1", "object#2"]);
        first.abort().await.unwrap();
        second.abort().await.unwrap();
    }
}
