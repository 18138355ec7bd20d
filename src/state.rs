//! State shared by every request handler.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::auth::rate_limit::RateLimit;
use crate::db::Database;
use crate::storage::BlobStore;

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<dyn Database>,
    pub store: BlobStore,
    pub config: Arc<RuntimeConfig>,
    pub rate_limit: Option<Arc<RateLimit>>,
    /// Sign-in attempts per email address.
    pub login_limit: Option<Arc<RateLimit>>,
    /// True once migrations are applied and the server accepts API requests.
    pub ready: Arc<AtomicBool>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub imaging: Arc<crate::imaging::service::Imaging>,
    pub listing: Arc<crate::listing::Listing>,
}

/// Settings resolved at start-up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Base of file URLs, without a trailing slash.
    pub files_base_url: String,
    pub max_upload_size: u64,
    pub upload_grace_period_ms: i64,
    pub session_ttl_ms: i64,
    pub read_timeout: std::time::Duration,
}
