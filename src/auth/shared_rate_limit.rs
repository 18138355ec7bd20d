//! Rate limits kept in PostgreSQL, so that every server on one database counts the requests of a key together.
//!
//! The algorithm is GCRA, as in the in-memory limiter of [`super::rate_limit`] (governor), with the same parameters:
//! an emission interval `T` (one request per `T`) and a tolerance `tau = T * (burst - 1)`. Each key has one row in
//! `rate_limits` with its theoretical arrival time (TAT). A request at time `now` is allowed when
//! `now >= TAT - tau`, and then moves the TAT to `max(TAT, now) + T`. A rejected request waits `TAT - tau - now`. A key
//! without a row behaves as one whose TAT has passed, so rows whose TAT has passed can be deleted without changing
//! any decision. Times come from the database clock, so the servers' clocks need not agree.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::Quota;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// Maximum wait for a decision of the database, connecting included, before the local limiter decides instead.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a limit uses only the local limiter after the database failed to decide, so that an outage does not add
/// `CHECK_TIMEOUT` to every request.
const FALLBACK_PERIOD: Duration = Duration::from_secs(5);
/// Connections of one process for rate-limit checks, beside the pool of the metadata backend.
const MAX_CONNECTIONS: u32 = 4;

/// Takes one request of a key: inserts the key's row or moves its TAT when the request is allowed, in one statement.
/// The row lock of `ON CONFLICT DO UPDATE` orders concurrent requests for one key. `excluded.tat_us - $2` is the
/// current time. When the request is rejected, `taken` is empty and the wait is computed from the row as the
/// statement's snapshot shows it. A request that raced with another for the same key may see an older TAT there, so
/// its wait can come out short. The caller rounds it up to at least one second.
const TAKE_SQL: &str = "
WITH clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us
),
taken AS (
    INSERT INTO rate_limits AS bucket (key, tat_us)
    SELECT $1, now_us + $2 FROM clock
    ON CONFLICT (key) DO UPDATE
        SET tat_us = greatest(bucket.tat_us, excluded.tat_us - $2) + $2
        WHERE bucket.tat_us - $3 <= excluded.tat_us - $2
    RETURNING tat_us
)
SELECT
    EXISTS (SELECT FROM taken) AS allowed,
    (SELECT tat_us FROM rate_limits WHERE key = $1) - $3 - clock.now_us AS wait_us
FROM clock";

/// Deletes the rows of one limit whose TAT has passed: their keys have a full burst again.
const DELETE_IDLE_SQL: &str = "
DELETE FROM rate_limits
WHERE starts_with(key, $1) AND tat_us < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// Connection pool to the database that contains the shared rate limits, one per process and shared by its limits.
#[derive(Clone)]
pub struct SharedRateLimits {
    pool: PgPool,
}

impl SharedRateLimits {
    /// Prepares a small pool of its own for the database at `url`, so that checks do not queue behind slow queries
    /// of the metadata pool. Connects on first use, and the `rate_limits` table comes from the migrations that
    /// opening the metadata backend applies.
    pub fn connect_lazy(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("medialib-rate-limit");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CHECK_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Returns the limit of `quota` for keys of `scope` (such as `token`), kept in this database.
    pub fn limit(&self, scope: &'static str, quota: Quota) -> SharedLimit {
        let interval = quota.replenish_interval();
        let interval_us = i64::try_from(interval.as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        let extra_burst = i64::from(quota.burst_size().get() - 1);
        SharedLimit {
            pool: self.pool.clone(),
            scope,
            interval_us,
            tolerance_us: interval_us.saturating_mul(extra_burst),
            started: Instant::now(),
            fallback_until_ms: AtomicU64::new(0),
        }
    }
}

/// Outcome of one request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the request may be sent again after this wait.
    Rejected(Duration),
}

/// One rate limit (per token, or per sign-in email) shared through PostgreSQL.
pub struct SharedLimit {
    pool: PgPool,
    /// Prefix of this limit's keys in `rate_limits`.
    scope: &'static str,
    /// GCRA emission interval `T`, in microseconds.
    interval_us: i64,
    /// GCRA tolerance `tau = T * (burst - 1)`, in microseconds.
    tolerance_us: i64,
    started: Instant,
    /// End of the current fallback period, in milliseconds since `started`; 0 when the database decides.
    fallback_until_ms: AtomicU64,
}

impl SharedLimit {
    /// Counts one request of `key` in the database. Returns `None` when the database did not decide within
    /// `CHECK_TIMEOUT`, or during the fallback period that follows such a failure: the caller then decides locally.
    /// A failure is logged once per fallback period and counted in `medialib_rate_limit_fallbacks_total`.
    pub async fn check(&self, key: &str) -> Option<Decision> {
        let now_ms = self.elapsed_ms();
        let fallback_until_ms = self.fallback_until_ms.load(Ordering::Relaxed);
        if now_ms < fallback_until_ms {
            self.count_fallback();
            return None;
        }

        let failure = match tokio::time::timeout(CHECK_TIMEOUT, self.take(key)).await {
            Ok(Ok(decision)) => {
                if fallback_until_ms != 0 && self.fallback_until_ms.swap(0, Ordering::Relaxed) != 0
                {
                    tracing::info!(
                        limit = self.scope,
                        "the database decides the rate limit again"
                    );
                }
                return Some(decision);
            }
            Ok(Err(error)) => format!("{error:#}"),
            Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
        };

        self.count_fallback();
        let until_ms = self.elapsed_ms() + FALLBACK_PERIOD.as_millis() as u64;
        let previous_until_ms = self.fallback_until_ms.swap(until_ms, Ordering::Relaxed);
        if previous_until_ms <= now_ms {
            tracing::warn!(
                limit = self.scope,
                error = %failure,
                fallback_s = FALLBACK_PERIOD.as_secs(),
                "the rate-limit check in the database failed; this server applies the limit on its own requests \
                 only for the next seconds"
            );
        }
        None
    }

    /// Deletes this limit's rows whose TAT has passed, and returns how many it deleted.
    pub async fn delete_idle(&self) -> Result<u64, sqlx::Error> {
        let result = sqlx::query(DELETE_IDLE_SQL)
            .bind(format!("{}:", self.scope))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    async fn take(&self, key: &str) -> Result<Decision, sqlx::Error> {
        let (allowed, wait_us): (bool, Option<i64>) = sqlx::query_as(TAKE_SQL)
            .bind(self.row_key(key))
            .bind(self.interval_us)
            .bind(self.tolerance_us)
            .fetch_one(&self.pool)
            .await?;
        if allowed {
            return Ok(Decision::Allowed);
        }
        let wait_us = u64::try_from(wait_us.unwrap_or(0)).unwrap_or(0);
        Ok(Decision::Rejected(Duration::from_micros(wait_us)))
    }

    /// Returns the primary key of `key`'s row: the scope, a colon, and the SHA-256 of the key in hex. Hashing bounds
    /// the row size whatever a client sends as an email, and keeps addresses out of this table.
    fn row_key(&self, key: &str) -> String {
        format!(
            "{}:{}",
            self.scope,
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn count_fallback(&self) {
        metrics::counter!("medialib_rate_limit_fallbacks_total", "limit" => self.scope)
            .increment(1);
    }
}
