//! Building and running the HTTP server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::{middleware, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use crate::auth::rate_limit::RateLimit;
use crate::auth::shared_rate_limit::SharedRateLimits;
use crate::config::{DatabaseUrl, ServeSettings, StorageSettings};
use crate::db::postgres::PostgresDatabase;
use crate::db::sqlite::SqliteDatabase;
use crate::db::{Database, NewToken};
use crate::domain::ids::{hash_token, new_token_id, new_token_secret};
use crate::domain::now_millis;
use crate::error::ApiError;
use crate::imaging::render::RenderLimits;
use crate::imaging::service::{Imaging, ImagingConfig};
use crate::listing::{Listing, FEED_ROWS_KEPT};
use crate::state::{AppState, RuntimeConfig};
use crate::storage::BlobStore;
use crate::telemetry;

/// Name of the repository created on the first start.
const DEMO_REPOSITORY: &str = "demo";
/// Sign-in attempts allowed per email address and minute.
const LOGINS_PER_MINUTE: u32 = 5;

/// Opens the database (applying pending migrations) and the file store.
pub async fn open_storage(
    settings: &StorageSettings,
) -> anyhow::Result<(Arc<dyn Database>, BlobStore)> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "failed to create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let database = open_database(settings).await?;
    let storage_url = settings.storage_location();
    let store = BlobStore::open(&storage_url)
        .with_context(|| format!("failed to open the file store {storage_url}"))?;
    Ok((database, store))
}

/// Opens the database of `--database-url` and applies pending migrations.
pub async fn open_database(settings: &StorageSettings) -> anyhow::Result<Arc<dyn Database>> {
    let url = settings.database();
    let database: Arc<dyn Database> = match &url {
        DatabaseUrl::Sqlite(_) if settings.database_url.is_none() => {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!("failed to create the data directory {}", settings.data_dir.display())
            })?;
            let path = settings.database_path();
            let database = SqliteDatabase::open(&path)
                .await
                .with_context(|| format!("failed to open the database {}", path.display()))?;
            Arc::new(database)
        }
        DatabaseUrl::Sqlite(sqlite_url) => Arc::new(
            SqliteDatabase::open_url(sqlite_url)
                .await
                .with_context(|| format!("failed to open the database {}", url.redacted()))?,
        ),
        DatabaseUrl::Postgres(postgres_url) => Arc::new(
            PostgresDatabase::open(postgres_url)
                .await
                .with_context(|| format!("failed to open the database {}", url.redacted()))?,
        ),
    };
    Ok(database)
}

/// Runs `medialib serve` until SIGTERM or Ctrl-C.
pub async fn serve(settings: ServeSettings, storage: StorageSettings) -> anyhow::Result<()> {
    let (database, store) = open_storage(&storage).await?;

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("failed to listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let public_url = match &settings.public_url {
        Some(url) => base_url("--public-url", url)?,
        None => format!("http://{address}"),
    };
    let files_base_url = match &settings.files_public_url {
        Some(url) => base_url("--files-public-url", url)?,
        None => public_url.clone(),
    };

    // On PostgreSQL the servers of one database share the rate limits; SQLite has one server per data directory.
    let shared_limits = match storage.database() {
        DatabaseUrl::Postgres(url) => Some(SharedRateLimits::connect_lazy(&url)?),
        DatabaseUrl::Sqlite(_) => None,
    };
    let state = AppState {
        db: database.clone(),
        store: store.clone(),
        config: Arc::new(RuntimeConfig {
            files_base_url: files_base_url.trim_end_matches('/').to_owned(),
            max_upload_size: settings.max_upload_size,
            upload_grace_period_ms: (settings.upload_grace_period as i64).saturating_mul(1000),
            session_ttl_ms: (settings.session_ttl as i64).saturating_mul(1000),
            read_timeout: Duration::from_secs(settings.read_timeout.max(1)),
        }),
        rate_limit: RateLimit::new(settings.rate_limit, settings.rate_limit_burst)
            .map(|limit| Arc::new(limit.shared_through(shared_limits.as_ref(), "token"))),
        login_limit: RateLimit::per_minute(LOGINS_PER_MINUTE)
            .map(|limit| Arc::new(limit.shared_through(shared_limits.as_ref(), "login"))),
        ready: Arc::new(AtomicBool::new(false)),
        metrics: metrics_handle(),
        imaging: Arc::new(Imaging::new(ImagingConfig {
            limits: RenderLimits {
                max_source_pixels: settings.max_source_pixels,
                max_output_dimension: settings.max_output_dimension.max(1),
            },
            concurrency: settings
                .render_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |cores| cores.get())),
            queue: settings.render_queue,
            timeout: Duration::from_secs(settings.render_timeout.max(1)),
            cache_budget: settings.variant_cache_size,
        })),
        listing: Listing::new(settings.listing_index),
    };

    let app = app(state.clone(), &settings.cors_origins)?;
    bootstrap_demo(database.as_ref(), &public_url).await?;
    spawn_background_tasks(&state, &settings);
    state.listing.warm_up(state.db.clone());

    state.ready.store(true, Ordering::Release);
    tracing::info!("listening on {address}");

    run_until_stopped(
        listener,
        app,
        state,
        Duration::from_secs(settings.shutdown_timeout),
    )
    .await
}

/// Builds the whole application: routes, middleware and path normalisation.
pub fn app(state: AppState, cors_origins: &str) -> anyhow::Result<NormalizedRouter> {
    let budget = crate::drain::DrainBudget(state.config.max_upload_size.saturating_add(1024 * 1024));
    let router = crate::routes::router(state)
        .layer(middleware::from_fn(crate::header_limits::limit_headers))
        .layer(middleware::from_fn_with_state(budget, crate::drain::drain_unread_body))
        .layer(middleware::from_fn(telemetry::log_request))
        .layer(cors_layer(cors_origins)?)
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static(
            "x-request-id",
        )))
        .layer(SetRequestIdLayer::new(
            HeaderName::from_static("x-request-id"),
            telemetry::MakeRequestId,
        ))
        .layer(CatchPanicLayer::custom(|_panic| {
            axum::response::IntoResponse::into_response(ApiError::internal(anyhow::anyhow!(
                "a handler panicked"
            )))
        }));
    Ok(tower::util::MapRequestLayer::new(telemetry::normalize_path as fn(_) -> _).layer(router))
}

/// The router behind path normalisation.
pub type NormalizedRouter =
    tower::util::MapRequest<Router, fn(axum::extract::Request) -> axum::extract::Request>;

/// Checks an absolute http(s) URL given as an option and returns it without a trailing slash.
fn base_url(option: &str, url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed: axum::http::Uri = trimmed
        .parse()
        .with_context(|| format!("invalid {option} {url:?}: use an absolute URL such as https://media.example.com"))?;
    let scheme_ok = matches!(parsed.scheme_str(), Some("http" | "https"));
    if !scheme_ok || parsed.authority().is_none() || parsed.query().is_some() {
        anyhow::bail!("invalid {option} {url:?}: use an absolute http or https URL such as https://media.example.com");
    }
    Ok(trimmed.to_owned())
}

fn cors_layer(origins: &str) -> anyhow::Result<CorsLayer> {
    let allow_origin = if origins.trim() == "*" || origins.trim().is_empty() {
        AllowOrigin::any()
    } else {
        let list = origins
            .split(',')
            .map(|origin| parse_origin(origin.trim()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::RETRY_AFTER,
            header::ETAG,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(3600)))
}

/// Checks one entry of `--cors-origins`: a scheme and a host, with an optional port and nothing else.
fn parse_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let invalid = || anyhow::anyhow!("invalid origin {origin:?} in --cors-origins: list origins such as https://app.example.com, comma-separated");
    let parsed: axum::http::Uri = origin.parse().map_err(|_| invalid())?;
    let path_is_empty = parsed.path_and_query().is_none_or(|path| path.as_str().is_empty() || path.as_str() == "/");
    if parsed.scheme().is_none() || parsed.authority().is_none() || !path_is_empty || origin.ends_with('/') {
        return Err(invalid());
    }
    HeaderValue::from_str(origin).map_err(|_| invalid())
}

/// Returns the Prometheus recorder of this process, installing it on first use.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);

            // Series that start at zero appear in the first scrape, before the first upload or render.
            metrics::gauge!("medialib_uploads_in_flight").set(0.0);
            metrics::counter!("medialib_uploaded_bytes_total").absolute(0);
            metrics::counter!("medialib_renders_total").absolute(0);
            handle
        })
        .clone()
}

/// Creates the demo repository with a write token on the first start, and prints how to upload to it.
async fn bootstrap_demo(database: &dyn Database, public_url: &str) -> anyhow::Result<()> {
    let secret = new_token_secret("mlt");
    let token = NewToken {
        id: new_token_id(),
        secret_hash: hash_token(&secret),
        repository_id: None,
        user_id: None,
        read_only: false,
        label: Some("created on first start".to_owned()),
        created_at: now_millis(),
        expires_at: None,
    };
    if !database.bootstrap(DEMO_REPOSITORY, token).await? {
        return Ok(());
    }
    tracing::info!(
        repository = DEMO_REPOSITORY,
        "created the demo repository and a write token"
    );
    println!(
        "Created the repository \"{DEMO_REPOSITORY}\" and a write token for it. Upload a file with:\n\n\
         curl -X POST {public_url}/assets -H 'repository: {DEMO_REPOSITORY}' -H 'authorization: Bearer {secret}' \
         -F 'file=@photo.jpg'\n"
    );
    Ok(())
}

fn spawn_background_tasks(state: &AppState, settings: &ServeSettings) {
    tokio::spawn(crate::memory::trim_periodically());

    let sweep_every = Duration::from_secs((settings.upload_grace_period / 2).clamp(1, 300));
    tokio::spawn(crate::storage::sweep::run(
        state.db.clone(),
        state.store.clone(),
        sweep_every,
    ));

    let limits: Vec<Arc<RateLimit>> = state
        .rate_limit
        .iter()
        .chain(state.login_limit.iter())
        .cloned()
        .collect();
    let database = state.db.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticker.tick().await;
            for limit in &limits {
                limit.forget_idle().await;
            }
            if let Err(error) = database.prune_index_changes(FEED_ROWS_KEPT).await {
                tracing::warn!(error = %error, "failed to prune the change feed");
            }
            match database.stored_bytes().await {
                Ok(bytes) => metrics::gauge!("medialib_stored_bytes").set(bytes as f64),
                Err(error) => tracing::warn!(error = %error, "failed to measure the stored bytes"),
            }
        }
    });
}

/// How long a stopping server waits for its database connections to close.
const DATABASE_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

async fn run_until_stopped(
    listener: tokio::net::TcpListener,
    app: NormalizedRouter,
    state: AppState,
    shutdown_timeout: Duration,
) -> anyhow::Result<()> {
    let header_timeout = state.config.read_timeout;
    let ready = state.ready.clone();
    let signal = async move {
        shutdown_signal().await;
        ready.store(false, Ordering::Release);
        tracing::info!(
            timeout_s = shutdown_timeout.as_secs(),
            "shutting down; waiting for requests in flight"
        );
    };

    crate::server::serve(listener, app, signal, shutdown_timeout, header_timeout).await;
    // Background tasks may still hold a connection; they are not waited for long.
    if tokio::time::timeout(DATABASE_CLOSE_TIMEOUT, state.db.close()).await.is_err() {
        tracing::warn!("closing the database timed out; the next start recovers its log");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
