//! Settings of `medialib serve`, read from command-line options or `MEDIALIB_*` environment variables.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Format of log lines on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `medialib serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "MEDIALIB_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,

    /// Base URL of asset URLs, such as https://media.example.com [default: http://{bound address}]
    #[arg(long, env = "MEDIALIB_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Base URL of file URLs, for a CDN or a separate origin in front of /files [default: the public URL]
    #[arg(long, env = "MEDIALIB_FILES_PUBLIC_URL")]
    pub files_public_url: Option<String>,

    /// Requests per second allowed per token on API routes; 0 turns rate limiting off.
    #[arg(long, env = "MEDIALIB_RATE_LIMIT", default_value_t = 1)]
    pub rate_limit: u32,

    /// Requests a token may send at once before the rate limit applies.
    #[arg(long, env = "MEDIALIB_RATE_LIMIT_BURST", default_value_t = 1)]
    pub rate_limit_burst: u32,

    /// Largest accepted file, in bytes (inclusive).
    #[arg(long, env = "MEDIALIB_MAX_UPLOAD_SIZE", default_value_t = 104_857_600)]
    pub max_upload_size: u64,

    /// Origins allowed by CORS, comma-separated, or * for any.
    #[arg(long, env = "MEDIALIB_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    /// Format of log lines on standard error.
    #[arg(long, env = "MEDIALIB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds after which the bytes of an interrupted upload are deleted.
    #[arg(long, env = "MEDIALIB_UPLOAD_GRACE_PERIOD", default_value_t = 86_400)]
    pub upload_grace_period: u64,

    /// Seconds a session token from POST /login stays valid.
    #[arg(long, env = "MEDIALIB_SESSION_TTL", default_value_t = 7 * 24 * 3600)]
    pub session_ttl: u64,

    /// Seconds a client may stay silent while sending a request body before the request is cut off.
    #[arg(long, env = "MEDIALIB_READ_TIMEOUT", default_value_t = 30)]
    pub read_timeout: u64,

    /// Largest image, in pixels (width times height), that image parameters are applied to; larger ones get 422.
    #[arg(long, env = "MEDIALIB_MAX_SOURCE_PIXELS", default_value_t = 100_000_000)]
    pub max_source_pixels: u64,

    /// Largest side of a rendered image, in pixels; larger requests are scaled down keeping the aspect ratio.
    #[arg(long, env = "MEDIALIB_MAX_OUTPUT_DIMENSION", default_value_t = 8192)]
    pub max_output_dimension: u32,

    /// Image renders running at once [default: the number of CPUs]
    #[arg(long, env = "MEDIALIB_RENDER_CONCURRENCY")]
    pub render_concurrency: Option<usize>,

    /// Image renders that may wait for a free slot; beyond that, requests get 503 with retry-after.
    #[arg(long, env = "MEDIALIB_RENDER_QUEUE", default_value_t = 64)]
    pub render_queue: usize,

    /// Seconds a render may take, waiting included, before the request gets 503.
    #[arg(long, env = "MEDIALIB_RENDER_TIMEOUT", default_value_t = 30)]
    pub render_timeout: u64,

    /// Total size in bytes of the cached image variants in the object store.
    #[arg(long, env = "MEDIALIB_VARIANT_CACHE_SIZE", default_value_t = 1_073_741_824)]
    pub variant_cache_size: u64,

    /// Seconds that in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "MEDIALIB_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct StorageSettings {
    /// Directory of the embedded database and the stored files.
    #[arg(
        long,
        global = true,
        env = "MEDIALIB_DATA_DIR",
        default_value = "./medialib-data"
    )]
    pub data_dir: PathBuf,
}

impl StorageSettings {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("medialib.sqlite")
    }

    pub fn files_path(&self) -> PathBuf {
        self.data_dir.join("files")
    }
}
