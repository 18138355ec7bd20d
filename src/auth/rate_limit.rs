//! Per-token rate limit of API routes, and the per-email limit of sign-ins.
//!
//! Each limit counts requests in a governor keyed limiter in memory. With `--database-url postgres://…` it is also
//! shared: the database decides, so that several servers count a key's requests together (see
//! [`super::shared_rate_limit`]), and the in-memory limiter decides only while the database does not respond.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::shared_rate_limit::{Decision, SharedLimit, SharedRateLimits};
use crate::error::ApiError;

/// A GCRA bucket per key (token id or email).
pub struct RateLimit {
    quota: Quota,
    local: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    shared: Option<SharedLimit>,
}

impl RateLimit {
    /// Allows `per_second` requests per second with bursts of `burst`; `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Some(Self::with_quota(
            Quota::per_second(per_second).allow_burst(burst),
        ))
    }

    /// Allows `per_minute` requests per minute, all of them at once if they come together.
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        Some(Self::with_quota(Quota::per_minute(per_minute)))
    }

    fn with_quota(quota: Quota) -> Self {
        Self {
            quota,
            local: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            shared: None,
        }
    }

    /// Shares this limit through `database` under keys prefixed with `scope`; without a database the limit stays
    /// local to this process.
    pub fn shared_through(
        mut self,
        database: Option<&SharedRateLimits>,
        scope: &'static str,
    ) -> Self {
        self.shared = database.map(|database| database.limit(scope, self.quota));
        self
    }

    /// Counts one request of `token_id`; over the limit, returns a 429 whose `retry-after` is the wait in whole
    /// seconds, rounded up and at least 1.
    pub async fn check(&self, token_id: &str) -> Result<(), ApiError> {
        self.wait_seconds(token_id).await.map_or(Ok(()), |seconds| {
            Err(ApiError::rate_limited(
                seconds,
                format!("Too many requests for this token; retry after {seconds} s."),
            ))
        })
    }

    /// Counts one sign-in attempt for `email`; over the limit, returns a 429 like [`RateLimit::check`].
    pub async fn check_login(&self, email: &str) -> Result<(), ApiError> {
        self.wait_seconds(email).await.map_or(Ok(()), |seconds| {
            Err(ApiError::rate_limited(
                seconds,
                format!(
                    "Too many sign-in attempts for this email address; retry after {seconds} s."
                ),
            ))
        })
    }

    /// Counts one request of `key`; returns the whole seconds to wait, at least 1, when it is over the limit.
    ///
    /// The in-memory limiter counts every request, also when the database decides, so that it contains this server's
    /// recent requests when it has to decide during a database failure. Across servers the limit then loosens to
    /// the quota per server, and requests keep being served instead of failing.
    async fn wait_seconds(&self, key: &str) -> Option<u64> {
        let local_wait = self.local_wait(key);
        let wait = match &self.shared {
            Some(shared) => match shared.check(key).await {
                Some(Decision::Allowed) => None,
                Some(Decision::Rejected(wait)) => Some(wait),
                None => local_wait,
            },
            None => local_wait,
        };
        wait.map(|wait| (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }

    fn local_wait(&self, key: &str) -> Option<Duration> {
        let not_until = self.local.check_key(&key.to_owned()).err()?;
        Some(not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets keys whose bucket is full again, in memory and in the database, so that neither grows with the
    /// number of keys seen.
    pub async fn forget_idle(&self) {
        self.local.retain_recent();
        self.local.shrink_to_fit();
        if let Some(shared) = &self.shared {
            if let Err(error) = shared.delete_idle().await {
                tracing::warn!(error = %error, "failed to delete idle rate-limit rows");
            }
        }
    }
}
