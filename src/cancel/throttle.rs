//! A job-wide rate limit shared by all workers, changeable while the job runs.
//!
//! A worker that is ahead of the rate waits on its stop token, never in `thread::sleep`, so a
//! cancel wakes it at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled};

/// A total rate limit in bytes per second; 0 means none.
#[derive(Debug, Default)]
pub struct Throttle {
    rate_bytes_per_sec: AtomicU64,
    /// When the bytes granted so far will have been "paid for" at the current rate.
    next_free: Mutex<Option<Instant>>,
}

impl Throttle {
    /// A throttle at `rate` bytes per second (`None` or 0: unlimited).
    pub fn new(rate: Option<u64>) -> Self {
        let t = Throttle::default();
        t.set_rate(rate);
        t
    }

    /// Changes the rate; takes effect from the next chunk.
    pub fn set_rate(&self, rate: Option<u64>) {
        // Relaxed: the rate is a setting read independently by each chunk; no other data
        // depends on seeing it at a particular moment.
        self.rate_bytes_per_sec
            .store(rate.unwrap_or(0), Ordering::Relaxed);
    }

    /// The current rate, if limited.
    pub fn rate(&self) -> Option<u64> {
        // Relaxed: see `set_rate`.
        match self.rate_bytes_per_sec.load(Ordering::Relaxed) {
            0 => None,
            r => Some(r),
        }
    }

    /// Accounts for `n` bytes and waits, on `token`, as long as the rate requires.
    pub fn consume(&self, n: u64, token: &CancelToken) -> Result<(), Cancelled> {
        let Some(rate) = self.rate() else {
            return Ok(());
        };
        let cost = Duration::from_secs_f64(n as f64 / rate as f64);
        let now = Instant::now();
        let wait = {
            let mut next = self
                .next_free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Unused time is not banked: after an idle spell the rate restarts from now.
            let start = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            let end = start + cost;
            *next = Some(end);
            end - now
        };
        token.wait_timeout(wait)
    }
}
