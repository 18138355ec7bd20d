//! Keeping the server's resident memory close to the bytes it uses, with glibc's allocator.
//!
//! glibc gives busy threads arenas of their own, up to eight per core, and returns an arena's free memory to the
//! kernel only from its top. Buffers of renders and uploads are allocated and freed by whichever worker or blocking
//! thread runs them, so every arena fills with scattered free space. In 30 minutes of mixed traffic (`bench/soak.sh`,
//! docs/benchmarks.md), resident memory rose by about a quarter even with a trim every 10 seconds. With at most one
//! arena per core, it stayed level at about half that size. So the server caps the arenas at one per core and still
//! trims: `malloc_trim` releases every whole free page of every arena (glibc 2.8 and later).
//!
//! A request's buffers (hyper's read buffer, the multipart parser's, the chunks of an upload) are often larger than
//! glibc's default threshold for serving an allocation with its own `mmap`, 128 KiB at first. Each such buffer then
//! costs a fresh mapping, a page fault per 4 KiB page when it is first written, and an unmapping when it is freed. In a
//! profile of 1 MiB uploads, page faults took 17% of the server's CPU samples. So allocations up to 4 MiB come from the
//! arenas, and an arena keeps up to 8 MiB free at its top for the next request. The periodic trim still returns free
//! pages to the kernel. This made a 1 MiB upload about 0.5 ms faster (docs/benchmarks.md). A trim threshold of 4 MiB
//! lost most of the gain. With 16 MiB, the RSS level of the 30-minute soak rose 10.5% after its warm-up, above the
//! limit of 10%.

use std::time::Duration;

/// Time between two trims. A trim locks each arena while it walks it, so it runs on the blocking pool.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);
/// Largest allocation served from an arena; larger ones get a mapping of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 4 * 1024 * 1024;
/// Free memory an arena keeps at its top between trims.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD_BYTES: libc::c_int = 8 * 1024 * 1024;

/// Caps glibc's arenas at one per core and raises its thresholds for mappings and trims, each unless the environment
/// already sets it (`MALLOC_ARENA_MAX`, or `GLIBC_TUNABLES` with malloc settings). Call it before any other thread
/// starts, because threads that already allocated keep their arenas. Does nothing where the C library is not glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if std::env::var_os("MALLOC_ARENA_MAX").is_none()
            && !tunables.contains("glibc.malloc.arena_max")
        {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
            set_malloc_option(libc::M_ARENA_MAX, arenas);
        }
        if !tunables.contains("glibc.malloc.mmap_threshold")
            && !tunables.contains("glibc.malloc.trim_threshold")
        {
            set_malloc_option(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
            set_malloc_option(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_malloc_option(option: libc::c_int, value: libc::c_int) {
    // SAFETY: mallopt only sets a field of the allocator's parameters, under its lock.
    if unsafe { libc::mallopt(option, value) } != 1 {
        tracing::debug!(option, value, "glibc rejected a malloc option");
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
