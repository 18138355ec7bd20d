//! Chunks of a request body handed from the request task to a blocking thread, with the bytes in flight bounded.
//!
//! An upload to the local file system hands each received chunk to the thread that hashes and writes the file. An
//! upload to S3 hands it to a hashing thread and sends it from the request's task. Either way, parsing the request
//! and hashing use separate cores. A `Bytes` clone shares the chunk's buffer, so handing it over copies nothing.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Sending end of a pipe; dropping it ends the stream seen by the worker.
pub(crate) struct PipeSender {
    sender: mpsc::UnboundedSender<Piece>,
    budget: Arc<Semaphore>,
    budget_bytes: u32,
}

/// Receiving end of a pipe, used by the worker thread.
pub(crate) struct PipeReceiver {
    receiver: mpsc::UnboundedReceiver<Piece>,
}

/// One chunk and its share of the byte budget, which is released when the piece is dropped.
pub(crate) struct Piece {
    pub chunk: Bytes,
    _permit: OwnedSemaphorePermit,
}

/// The worker stopped before the sender finished, because it failed or was cancelled.
#[derive(Debug)]
pub(crate) struct WorkerGone;

/// Starts `work` on a blocking thread, fed by a pipe that holds at most `budget_bytes` of unprocessed chunks.
///
/// A chunk larger than the whole budget waits until the pipe is empty and then goes through alone.
pub(crate) fn spawn<T, F>(budget_bytes: u32, work: F) -> (PipeSender, JoinHandle<T>)
where
    T: Send + 'static,
    F: FnOnce(PipeReceiver) -> T + Send + 'static,
{
    let (sender, receiver) = mpsc::unbounded_channel();
    let worker = tokio::task::spawn_blocking(move || work(PipeReceiver { receiver }));
    let sender = PipeSender {
        sender,
        budget: Arc::new(Semaphore::new(budget_bytes as usize)),
        budget_bytes,
    };
    (sender, worker)
}

impl PipeSender {
    /// Queues a chunk for the worker, waiting while the pipe is full.
    pub async fn send(&self, chunk: Bytes) -> Result<(), WorkerGone> {
        let cost = u32::try_from(chunk.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_bytes);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(cost)
            .await
            .map_err(|_| WorkerGone)?;
        self.sender
            .send(Piece {
                chunk,
                _permit: permit,
            })
            .map_err(|_| WorkerGone)
    }
}

impl PipeReceiver {
    /// Blocks until the next chunk arrives; returns `None` once the sender is dropped and every chunk was received.
    pub fn recv(&mut self) -> Option<Piece> {
        self.receiver.blocking_recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_delivers_chunks_in_order() {
        let (sender, worker) = spawn(10, |mut receiver| {
            let mut received = Vec::new();
            while let Some(piece) = receiver.recv() {
                received.extend_from_slice(&piece.chunk);
            }
            received
        });
        for chunk in [&b"abc"[..], b"", b"0123456789abcdef", b"xyz"] {
            sender.send(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        drop(sender);
        assert_eq!(worker.await.unwrap(), b"abc0123456789abcdefxyz");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_blocks_sender_while_budget_is_used() {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (sender, worker) = spawn(8, move |mut receiver| {
            let first = receiver.recv().expect("a first chunk");
            released.recv().unwrap();
            drop(first);
            let mut count = 1;
            while receiver.recv().is_some() {
                count += 1;
            }
            count
        });
        sender.send(Bytes::from_static(b"12345678")).await.unwrap();
        let second = sender.send(Bytes::from_static(b"x"));
        let waited = tokio::time::timeout(std::time::Duration::from_millis(100), second).await;
        assert!(waited.is_err(), "a full pipe should make the sender wait");

        release.send(()).unwrap();
        sender.send(Bytes::from_static(b"x")).await.unwrap();
        drop(sender);
        assert_eq!(worker.await.unwrap(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_reports_stopped_worker() {
        let (sender, worker) = spawn(8, |receiver| drop(receiver));
        worker.await.unwrap();
        assert!(sender.send(Bytes::from_static(b"late")).await.is_err());
    }
}
