//! HubSpot's request limits: the rolling ten-second window per token, the search
//! endpoints' own per-second window, and the daily count. Only admitted requests
//! are counted, so a client that backs off recovers as old requests age out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Daily quota of a Free/Starter account (HubSpot's usage guidelines).
pub const DAILY_LIMIT: u64 = 250_000;

/// Search endpoints' per-token limit in requests per second.
pub const SEARCH_PER_SECOND: usize = 5;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; values for the `X-HubSpot-RateLimit-*` headers.
    Allowed {
        /// Window size.
        max: u32,
        /// Requests left in the window after this one.
        remaining: u32,
        /// Requests left today after this one.
        daily_remaining: u64,
    },
    /// Refused by the ten-second rolling window.
    TenSecondly,
    /// Refused by the search per-second window.
    SearchSecondly,
    /// Refused by the daily quota.
    Daily,
}

/// A sliding log of admitted request times.
#[derive(Debug)]
struct Rolling {
    window: Duration,
    max: usize,
    hits: VecDeque<Instant>,
}

impl Rolling {
    fn new(window: Duration, max: usize) -> Self {
        Self {
            window,
            max,
            hits: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(front) = self.hits.front() {
            if now.duration_since(*front) >= self.window {
                self.hits.pop_front();
            } else {
                break;
            }
        }
    }

    fn full(&mut self, now: Instant) -> bool {
        self.prune(now);
        self.hits.len() >= self.max
    }

    /// Seconds until the oldest admitted request leaves the window.
    fn wait(&self, now: Instant) -> f64 {
        self.hits.front().map_or(0.0, |f| {
            self.window
                .saturating_sub(now.duration_since(*f))
                .as_secs_f64()
        })
    }
}

/// All limits of the one sandbox token.
#[derive(Debug)]
pub struct Limiter {
    enabled: bool,
    ten: Rolling,
    search: Rolling,
    day: Option<chrono::NaiveDate>,
    day_count: u64,
}

impl Limiter {
    /// `per_10s == 0` turns every limit off.
    pub fn new(per_10s: u32) -> Self {
        Self {
            enabled: per_10s > 0,
            ten: Rolling::new(Duration::from_secs(10), per_10s as usize),
            search: Rolling::new(Duration::from_secs(1), SEARCH_PER_SECOND),
            day: None,
            day_count: 0,
        }
    }

    /// Admits or refuses one request now.
    pub fn check(&mut self, is_search: bool, now: Instant, wall: DateTime<Utc>) -> Decision {
        let today = wall.date_naive();
        if self.day != Some(today) {
            self.day = Some(today);
            self.day_count = 0;
        }
        let max = self.ten.max as u32;
        if !self.enabled {
            return Decision::Allowed {
                max,
                remaining: max,
                daily_remaining: DAILY_LIMIT,
            };
        }
        if self.day_count >= DAILY_LIMIT {
            return Decision::Daily;
        }
        if self.ten.full(now) {
            return Decision::TenSecondly;
        }
        if is_search && self.search.full(now) {
            return Decision::SearchSecondly;
        }
        self.ten.hits.push_back(now);
        if is_search {
            self.search.hits.push_back(now);
        }
        self.day_count += 1;
        Decision::Allowed {
            max,
            remaining: (self.ten.max - self.ten.hits.len()) as u32,
            daily_remaining: DAILY_LIMIT - self.day_count,
        }
    }

    /// Seconds until the ten-second window admits again (for logs and chaos).
    pub fn ten_secondly_wait(&self, now: Instant) -> f64 {
        self.ten.wait(now)
    }

    /// Forgets all admitted requests.
    pub fn reset(&mut self) {
        self.ten.hits.clear();
        self.search.hits.clear();
        self.day_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_exactly_when_window_full_and_recovers() {
        let mut l = Limiter::new(3);
        let t0 = Instant::now();
        let wall = Utc::now();
        for i in 0..3 {
            assert!(
                matches!(l.check(false, t0, wall), Decision::Allowed { remaining, .. } if remaining == 2 - i)
            );
        }
        assert_eq!(l.check(false, t0, wall), Decision::TenSecondly);
        let later = t0 + Duration::from_secs(10);
        assert!(matches!(
            l.check(false, later, wall),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn search_has_its_own_secondly_window() {
        let mut l = Limiter::new(100);
        let t0 = Instant::now();
        let wall = Utc::now();
        for _ in 0..SEARCH_PER_SECOND {
            assert!(matches!(l.check(true, t0, wall), Decision::Allowed { .. }));
        }
        assert_eq!(l.check(true, t0, wall), Decision::SearchSecondly);
        assert!(matches!(l.check(false, t0, wall), Decision::Allowed { .. }));
    }

    #[test]
    fn zero_turns_limits_off() {
        let mut l = Limiter::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(matches!(
                l.check(true, t0, Utc::now()),
                Decision::Allowed { .. }
            ));
        }
    }
}
