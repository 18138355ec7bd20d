//! Single-flight execution: concurrent calls with the same key share one run of the work.
//!
//! The first caller for a key spawns the work on its own task. Callers that arrive while it runs wait for its output
//! instead of starting another run. The task runs to its end even when every caller has gone, for example when a
//! client closed the connection, so no key stays taken by work that no caller polls.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::{BoxFuture, FutureExt, Shared};

/// Part a caller played in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller started the run.
    Leader,
    /// The caller waited for a run that another caller had started.
    Follower,
}

/// Output of a run whose task panicked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the shared task failed: {0}")]
pub struct TaskFailed(String);

type Running<T> = Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, Result<T, TaskFailed>>>>>>;

/// Runs in progress, by key.
pub struct SingleFlight<T> {
    running: Running<T>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self { running: Arc::default() }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Returns the output of the run for `key`: the one in progress, or else a new one of `work`, spawned on the
    /// Tokio runtime. The key is free again once that run has ended, so a later call starts a new run.
    pub async fn run<F, W>(&self, key: &str, work: W) -> (Result<T, TaskFailed>, Role)
    where
        W: FnOnce() -> F,
        F: Future<Output = T> + Send + 'static,
    {
        let (output, role) = {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            match running.get(key) {
                Some(output) => (output.clone(), Role::Follower),
                None => {
                    let output = self.spawn(key, work());
                    running.insert(key.to_owned(), output.clone());
                    (output, Role::Leader)
                }
            }
        };
        (output.await, role)
    }

    /// Spawns `work`; its task removes `key` from the runs in progress when it ends, panics included. The caller
    /// holds the lock, so the removal cannot come before the insertion.
    fn spawn<F>(&self, key: &str, work: F) -> Shared<BoxFuture<'static, Result<T, TaskFailed>>>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let release = Release { running: Arc::clone(&self.running), key: key.to_owned() };
        let task = tokio::spawn(async move {
            let _release = release;
            work.await
        });
        async move { task.await.map_err(|error| TaskFailed(error.to_string())) }.boxed().shared()
    }

    /// Returns the number of runs in progress.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Removes a key from the runs in progress when dropped.
struct Release<T> {
    running: Running<T>,
    key: String,
}

impl<T> Drop for Release<T> {
    fn drop(&mut self) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_calls_share_one_run() {
        let flights = SingleFlight::<u32>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let call = || {
            let runs = Arc::clone(&runs);
            flights.run("key", move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                7
            })
        };

        let outputs = futures::future::join_all((0..5).map(|_| call())).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run for five concurrent calls");
        assert!(outputs.iter().all(|(output, _)| output.as_ref().ok() == Some(&7)), "{outputs:?}");
        let leaders = outputs.iter().filter(|(_, role)| *role == Role::Leader).count();
        assert_eq!(leaders, 1, "{outputs:?}");
        assert_eq!(flights.running(), 0, "the key is released after the run");

        call().await.0.expect("the second run succeeds");
        assert_eq!(runs.load(Ordering::SeqCst), 2, "a later call runs again");
    }

    #[tokio::test]
    async fn different_keys_run_separately() {
        let flights = SingleFlight::<String>::default();
        let (first, second) =
            tokio::join!(flights.run("a", || async { "a".to_owned() }), flights.run("b", || async { "b".to_owned() }));
        assert_eq!((first.0.unwrap(), first.1), ("a".to_owned(), Role::Leader));
        assert_eq!((second.0.unwrap(), second.1), ("b".to_owned(), Role::Leader));
    }

    #[tokio::test]
    async fn run_continues_after_callers_leave() {
        let flights = SingleFlight::<u32>::default();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let call = flights.run("key", move || async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender.send(()).expect("the test waits for the signal");
            1
        });
        // The only caller gives up at once; the spawned run still ends and releases its key.
        assert!(tokio::time::timeout(Duration::from_millis(1), call).await.is_err());
        receiver.await.expect("the run finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(flights.running(), 0);
    }

    #[tokio::test]
    async fn panicking_run_releases_its_key() {
        let flights = SingleFlight::<u32>::default();
        let (output, _) = flights.run("key", || async { panic!("the work failed") }).await;
        assert!(output.is_err(), "a panic is reported to the callers");
        assert_eq!(flights.running(), 0);
    }
}
