//! Per-token rate limit of API routes.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// A token bucket per token id.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimit {
    /// Allows `per_second` requests per second with bursts of `burst`; `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    /// Allows `per_minute` requests per minute, all of them at once if they come together.
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        })
    }

    /// Counts one request of `token_id`; over the limit, returns a 429 whose `retry-after` is the wait in whole
    /// seconds, rounded up and at least 1.
    pub fn check(&self, token_id: &str) -> Result<(), ApiError> {
        self.wait_seconds(token_id).map_or(Ok(()), |seconds| {
            Err(ApiError::rate_limited(
                seconds,
                format!("Too many requests for this token; retry after {seconds} s."),
            ))
        })
    }

    /// Counts one sign-in attempt for `email`; over the limit, returns a 429 like [`RateLimit::check`].
    pub fn check_login(&self, email: &str) -> Result<(), ApiError> {
        self.wait_seconds(email).map_or(Ok(()), |seconds| {
            Err(ApiError::rate_limited(
                seconds,
                format!("Too many sign-in attempts for this email address; retry after {seconds} s."),
            ))
        })
    }

    /// Counts one request of `key`; returns the whole seconds to wait, at least 1, when it is over the limit.
    fn wait_seconds(&self, key: &str) -> Option<u64> {
        let not_until = self.limiter.check_key(&key.to_owned()).err()?;
        let wait = not_until.wait_time_from(self.clock.now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(seconds.max(1))
    }

    /// Forgets tokens whose bucket is full again, so memory does not grow with the number of tokens seen.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
