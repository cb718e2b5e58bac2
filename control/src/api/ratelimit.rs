//! A token bucket per credential: `per_second` requests a second, bursts of up to `per_second`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ApiError;

pub struct RateLimiter {
    per_second: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets past this count are pruned of full (idle) ones.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        RateLimiter { per_second, buckets: Mutex::default() }
    }

    /// Takes one request from `key`'s bucket, or refuses (429).
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.take_at(key, Instant::now(), true)
    }

    /// Refuses (429) when `key`'s bucket is empty, without taking from it.
    pub fn peek(&self, key: &str) -> Result<(), ApiError> {
        self.take_at(key, Instant::now(), false)
    }

    #[cfg(test)]
    fn check_at(&self, key: &str, now: Instant) -> Result<(), ApiError> {
        self.take_at(key, now, true)
    }

    fn take_at(&self, key: &str, now: Instant, take: bool) -> Result<(), ApiError> {
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < rate);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: rate, updated: now });
        bucket.tokens = (bucket.tokens + now.saturating_duration_since(bucket.updated).as_secs_f64() * rate).min(rate);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
        Err(ApiError::TooManyRequests {
            per_second: self.per_second,
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_per_second_per_key() {
        let l = RateLimiter::new(4);
        let t0 = Instant::now();
        for _ in 0..4 {
            l.check_at("a", t0).unwrap();
        }
        match l.check_at("a", t0) {
            Err(ApiError::TooManyRequests { retry_after_secs, .. }) => assert_eq!(retry_after_secs, 1),
            other => panic!("{other:?}"),
        }
        l.check_at("b", t0).expect("another credential has its own bucket");
        l.check_at("a", t0 + Duration::from_millis(250)).expect("one request refilled after 1/4 s");
        assert!(l.check_at("a", t0 + Duration::from_millis(260)).is_err());
        for _ in 0..4 {
            l.check_at("a", t0 + Duration::from_secs(10)).unwrap();
        }
        assert!(l.check_at("a", t0 + Duration::from_secs(10)).is_err(), "no more than a burst of 4 after idling");
    }
}
