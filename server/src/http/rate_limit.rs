//! The API's rate limit per principal (user or system): a token bucket per principal
//! (`server.api_requests_per_minute`, refilled evenly, holding up to `server.api_burst`), answered
//! with 429 and `Retry-After` when empty.
//!
//! The buckets live in each server process (governor), not in Postgres: a shared counter would cost
//! every request a database write, which is what audited reads must not pay. A deployment of N
//! servers therefore allows up to N times the rate; set it per server.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug)]
pub struct ApiRateLimit {
    /// None when there is no limit.
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl ApiRateLimit {
    /// No limit when `per_minute` is 0.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        Self { limiter }
    }

    /// Takes one request from `principal`'s bucket, or says how long until one is there.
    pub fn check(&self, principal: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(&principal.to_owned()).map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::ApiRateLimit;

    #[test]
    fn each_principal_has_its_own_bucket() {
        let limit = ApiRateLimit::new(1, 2);
        assert!(limit.check("user:a").is_ok());
        assert!(limit.check("user:a").is_ok());
        let wait = limit.check("user:a").expect_err("the bucket is empty");
        assert!(wait.as_secs() > 0 && wait.as_secs() <= 60, "{wait:?}");
        assert!(limit.check("user:b").is_ok(), "another principal is not affected");
        let off = ApiRateLimit::new(0, 1);
        assert!((0..10).all(|_| off.check("user:a").is_ok()), "0 turns the limit off");
    }
}
