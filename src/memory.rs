//! Keeping the server's resident memory close to the bytes it uses, with glibc's allocator.
//!
//! glibc gives busy threads arenas of their own, up to eight per core, and returns an arena's free memory to the
//! kernel only from its top. Buffers of renders and uploads are allocated and freed by whichever worker or blocking
//! thread runs them, so every arena fills with scattered free space. In 30 minutes of mixed traffic (`bench/soak.sh`,
//! docs/benchmarks.md), resident memory rose by about a quarter even with a trim every 10 seconds. With at most one
//! arena per core, it stayed level at about half that size. So the server caps the arenas at one per core and still
//! trims: `malloc_trim` releases every whole free page of every arena (glibc 2.8 and later).

use std::time::Duration;

/// Time between two trims. A trim locks each arena while it walks it, so it runs on the blocking pool.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Caps glibc's arenas at one per core, unless `MALLOC_ARENA_MAX` already sets the cap. Call it before any other
/// thread starts, because threads that already allocated keep their arenas. Does nothing where the C library is not
/// glibc.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a field of the allocator's parameters, under its lock; no other thread runs yet.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    }
}

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
