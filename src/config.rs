//! Settings of `medialib serve`, read from command-line options or `MEDIALIB_*` environment variables.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::storage::StorageUrl;

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

    /// Seconds a new connection gets to send its request headers, and a client may stay silent while sending a
    /// request body, before the request is cut off (408 for a body). A connection on which the client sends nothing
    /// for this time is closed once its requests in flight finish.
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

    /// Serve keyword and tag filters from an in-memory index of each repository (a few hundred bytes per asset);
    /// `false` runs them in the database.
    #[arg(long, env = "MEDIALIB_LISTING_INDEX", default_value_t = true, action = clap::ArgAction::Set)]
    pub listing_index: bool,

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

    /// Where file bytes are stored: file:///absolute/path, or s3://bucket[/prefix]?endpoint=URL&region=NAME with
    /// credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; without endpoint the bucket is on AWS [default: the
    /// files directory inside --data-dir]
    #[arg(long, global = true, env = "MEDIALIB_STORAGE_URL", value_parser = StorageUrl::parse)]
    pub storage_url: Option<StorageUrl>,

    /// Metadata database: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE [default: medialib.sqlite
    /// in --data-dir]
    #[arg(long, global = true, env = "MEDIALIB_DATABASE_URL", value_parser = parse_database_url)]
    pub database_url: Option<DatabaseUrl>,
}

/// Location of the metadata database, from `--database-url`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A `sqlite:` URL, as sqlx reads it.
    Sqlite(String),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Returns the URL without its password, for messages and logs.
    pub fn redacted(&self) -> String {
        let url = match self {
            DatabaseUrl::Sqlite(url) | DatabaseUrl::Postgres(url) => url,
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.clone();
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
                None => url.clone(),
            },
            None => url.clone(),
        }
    }
}

/// Shows the URL without its password, so settings can be logged.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.redacted())
    }
}

/// Checks the scheme of `--database-url`.
pub(crate) fn parse_database_url(url: &str) -> Result<DatabaseUrl, String> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(DatabaseUrl::Sqlite(url.to_owned())),
        Some("postgres" | "postgresql") if url.contains("://") => Ok(DatabaseUrl::Postgres(url.to_owned())),
        _ => Err(
            "use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE (postgresql:// works too)".to_owned(),
        ),
    }
}

impl StorageSettings {
    /// Returns the database to open: `--database-url`, or the SQLite file in the data directory.
    pub fn database(&self) -> DatabaseUrl {
        match &self.database_url {
            Some(url) => url.clone(),
            None => DatabaseUrl::Sqlite(format!("sqlite://{}", self.database_path().display())),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("medialib.sqlite")
    }

    pub fn files_path(&self) -> PathBuf {
        self.data_dir.join("files")
    }

    /// Returns `--storage-url`, or the files directory inside the data directory when it is not given.
    pub fn storage_location(&self) -> StorageUrl {
        self.storage_url
            .clone()
            .unwrap_or_else(|| StorageUrl::File(self.files_path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_schemes() {
        assert!(matches!(parse_database_url("sqlite:///tmp/a.sqlite"), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!(parse_database_url("postgres://u@localhost/db"), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!(parse_database_url("postgresql://u@localhost/db"), Ok(DatabaseUrl::Postgres(_))));
        for invalid in ["mysql://u@localhost/db", "/tmp/a.sqlite", "", "postgres:db"] {
            assert!(parse_database_url(invalid).is_err(), "{invalid:?} accepted");
        }
    }

    #[test]
    fn redacts_password() {
        let url = DatabaseUrl::Postgres("postgres://ada:s3cret@db.example:5432/media?sslmode=require".to_owned());
        assert_eq!(url.redacted(), "postgres://ada:***@db.example:5432/media?sslmode=require");
        let url = DatabaseUrl::Postgres("postgres://ada@db.example/media".to_owned());
        assert_eq!(url.redacted(), "postgres://ada@db.example/media");
    }
}
