//! Returning freed heap memory to the kernel.
//!
//! glibc's allocator gives busy threads arenas of their own and returns an arena's free memory to the kernel only from
//! its top. Buffers of renders and uploads are freed all over the arenas, so the server's resident memory climbed to
//! the high-water mark of every arena. Over 30 minutes of mixed traffic it rose by about a third while the bytes in use
//! stayed level (measured with `bench/soak.sh`, docs/benchmarks.md). `malloc_trim` releases every whole free page of
//! every arena (glibc 2.8 and later), so resident memory follows the bytes in use.

use std::time::Duration;

/// Time between two trims. A trim locks each arena while it walks it, so it runs on the blocking pool.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Trims the heap every `TRIM_INTERVAL` until the task is dropped; does nothing where the C library is not glibc.
pub async fn trim_periodically() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut ticker = tokio::time::interval(TRIM_INTERVAL);
        loop {
            ticker.tick().await;
            // SAFETY: malloc_trim only walks the allocator's own structures, under its locks.
            let trim = || unsafe { libc::malloc_trim(0) };
            if let Err(error) = tokio::task::spawn_blocking(trim).await {
                tracing::warn!(error = %error, "trimming the heap failed");
            }
        }
    }
}
