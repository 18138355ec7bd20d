//! Rendering under a concurrency limit, a queue limit and a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::params::{Format, ImageParams};
use super::render::{render, RenderError, RenderLimits, Rendered};
use super::single_flight::SingleFlight;
use crate::error::ApiError;

/// Outcome of producing one variant, shared by every request that waited for it: the variant's bytes, `None` when the
/// stored bytes are to be served instead, or the error response.
pub type VariantOutcome = Result<Option<Bytes>, Arc<ApiError>>;

/// Settings of the renderer.
#[derive(Debug, Clone, Copy)]
pub struct ImagingConfig {
    pub limits: RenderLimits,
    /// Renders running at once.
    pub concurrency: usize,
    /// Renders waiting for a slot before new ones are refused with 503.
    pub queue: usize,
    pub timeout: Duration,
    /// Total size of the variant cache, in bytes.
    pub cache_budget: u64,
}

/// Failure to produce a variant.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error("too many renders are waiting")]
    Busy,
    #[error("the render took longer than {0:?}")]
    TimedOut(Duration),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// The renderer shared by every request.
pub struct Imaging {
    pub config: ImagingConfig,
    /// Held while the variant cache is being trimmed to its budget.
    pub eviction: tokio::sync::Mutex<()>,
    /// Variants being rendered, by cache key, so that concurrent requests for one variant render it once.
    pub variants_in_flight: SingleFlight<VariantOutcome>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Imaging {
    pub fn new(config: ImagingConfig) -> Self {
        Self {
            eviction: tokio::sync::Mutex::new(()),
            variants_in_flight: SingleFlight::default(),
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            config,
        }
    }

    /// Renders on a blocking thread once a slot is free; refuses at once when the queue is full.
    pub async fn render(&self, source: Bytes, params: ImageParams, format: Format) -> Result<Rendered, ImagingError> {
        let _place = QueuePlace::take(&self.waiting, self.config.queue + self.config.concurrency)
            .ok_or(ImagingError::Busy)?;
        self.render_in_slot(source, params, format).await
    }

    async fn render_in_slot(&self, source: Bytes, params: ImageParams, format: Format) -> Result<Rendered, ImagingError> {
        let timeout = self.config.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ImagingError::TimedOut(timeout))?
            .expect("the semaphore is never closed");

        let limits = self.config.limits;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            render(&source, &params, format, limits)
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join_error)) => Err(RenderError::Encode(format!("the render task failed: {join_error}")).into()),
            // The blocking render keeps its slot until it ends, so timed-out renders still count against concurrency.
            Err(_) => Err(ImagingError::TimedOut(timeout)),
        }
    }
}

/// A place among the renders running or waiting, given back on drop, so that a request whose future is dropped
/// (the client went away, or a timeout layer gave up) does not keep its place for ever.
struct QueuePlace<'a> {
    waiting: &'a AtomicUsize,
}

impl<'a> QueuePlace<'a> {
    /// Takes a place when fewer than `capacity` are taken.
    fn take(waiting: &'a AtomicUsize, capacity: usize) -> Option<Self> {
        if waiting.fetch_add(1, Ordering::AcqRel) >= capacity {
            waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self { waiting })
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_place_is_given_back_on_drop() {
        let waiting = AtomicUsize::new(0);
        let first = QueuePlace::take(&waiting, 1).expect("a free place");
        assert!(QueuePlace::take(&waiting, 1).is_none(), "the only place is taken");
        drop(first);
        assert!(QueuePlace::take(&waiting, 1).is_some(), "the place was given back");
        assert_eq!(waiting.load(Ordering::Acquire), 0);
    }
}
