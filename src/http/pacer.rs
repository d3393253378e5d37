//! Client-side pacing so we stay inside a platform's rate limit instead of bouncing
//! off it. Two shapes cover the platforms: a token bucket (Shopify's leaky bucket:
//! capacity, leak rate) and a sliding window (HubSpot's rolling 10 s, and Klaviyo's
//! fixed windows, for which a sliding window is the safe over-approximation).
//! Connectors feed the pacer what the response headers say; a 429 blocks every
//! caller until its Retry-After has passed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The limit a platform enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// No client-side pacing.
    Unlimited,
    /// Leaky/token bucket: up to `capacity` requests at once, refilled at `per_second`.
    Bucket {
        /// Bucket size.
        capacity: f64,
        /// Refill (leak) rate.
        per_second: f64,
    },
    /// At most `max` requests in any `window`.
    Window {
        /// Requests allowed per window.
        max: u32,
        /// Window length.
        window: Duration,
    },
}

#[derive(Debug)]
struct State {
    limit: Limit,
    tokens: f64,
    refilled_at: Instant,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// Shared pacer for one credential on one platform.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer for `limit`, starting full.
    pub fn new(limit: Limit) -> Pacer {
        let tokens = match limit {
            Limit::Bucket { capacity, .. } => capacity,
            _ => 0.0,
        };
        Pacer {
            state: Mutex::new(State {
                limit,
                tokens,
                refilled_at: Instant::now(),
                sent: VecDeque::new(),
                blocked_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until one request may be sent, and count it as sent.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                s.try_take(now)
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// The platform reported how many requests remain in its current bucket/window.
    pub fn observe_remaining(&self, remaining: f64) {
        let mut s = self.lock();
        let now = Instant::now();
        match s.limit {
            Limit::Bucket { capacity, .. } => {
                s.refill(now);
                // Trust the server when it knows of less room than we assumed (other
                // clients share the bucket); never inflate our own estimate.
                s.tokens = s.tokens.min(remaining.clamp(0.0, capacity));
            }
            Limit::Window { max, window } => {
                s.expire(now, window);
                let used = f64::from(max) - remaining;
                let used = used.max(0.0) as usize;
                while s.sent.len() < used {
                    s.sent.push_front(now);
                }
            }
            Limit::Unlimited => {}
        }
    }

    /// Change the limit (e.g. a header revealed the real bucket size).
    pub fn set_limit(&self, limit: Limit) {
        let mut s = self.lock();
        if s.limit != limit {
            if let Limit::Bucket { capacity, .. } = limit {
                // Coming from another shape, start full and let the server's
                // "remaining" (observed next) lower the estimate.
                s.tokens = match s.limit {
                    Limit::Bucket { .. } => s.tokens.clamp(0.0, capacity),
                    _ => capacity,
                };
                s.refilled_at = Instant::now();
            }
            s.limit = limit;
        }
    }

    /// The server answered 429: nobody sends until `retry_after` has passed, and the
    /// bucket is taken as empty.
    pub fn throttled(&self, retry_after: Duration) {
        let mut s = self.lock();
        let until = Instant::now() + retry_after;
        s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
        s.tokens = 0.0;
        s.refilled_at = until;
    }
}

/// Sends remembered while no limit is known.
const UNLIMITED_MEMORY: usize = 10_000;

/// A request is counted by the server from when it arrives, by us from when it is
/// sent: keeping our record a little longer than the window (2%, at least 100 ms)
/// absorbs that latency, so a request sent as soon as an old one leaves our window
/// never arrives while the server still counts the old one.
fn with_margin(window: Duration) -> Duration {
    window + (window / 50).max(Duration::from_millis(100))
}

impl State {
    fn refill(&mut self, now: Instant) {
        if let Limit::Bucket {
            capacity,
            per_second,
        } = self.limit
            && now > self.refilled_at
        {
            let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * per_second).min(capacity);
            self.refilled_at = now;
        }
    }

    fn expire(&mut self, now: Instant, window: Duration) {
        let window = with_margin(window);
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.sent.pop_front();
        }
    }

    /// Take a slot now, or say how long to wait before trying again.
    fn try_take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Some(until - now);
            }
            self.blocked_until = None;
        }
        match self.limit {
            Limit::Unlimited => {
                // Remember sends even without a limit: when the first response
                // reveals a window, the requests already in flight count in it.
                self.sent.push_back(now);
                if self.sent.len() > UNLIMITED_MEMORY {
                    self.sent.pop_front();
                }
                None
            }
            Limit::Bucket { per_second, .. } => {
                self.refill(now);
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    None
                } else {
                    let missing = 1.0 - self.tokens;
                    Some(Duration::from_secs_f64(missing / per_second.max(1e-6)))
                }
            }
            Limit::Window { max, window } => {
                self.expire(now, window);
                if self.sent.len() < max as usize {
                    self.sent.push_back(now);
                    None
                } else {
                    let oldest = self.sent.front().copied().unwrap_or(now);
                    Some(
                        (oldest + with_margin(window)).saturating_duration_since(now)
                            + Duration::from_millis(1),
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_bursts_then_paces_at_the_leak_rate() {
        let p = Pacer::new(Limit::Bucket {
            capacity: 4.0,
            per_second: 2.0,
        });
        let start = Instant::now();
        for _ in 0..4 {
            p.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(10));
        for _ in 0..4 {
            p.acquire().await;
        }
        // Four more at 2/s take two seconds.
        let e = start.elapsed().as_secs_f64();
        assert!((1.9..2.2).contains(&e), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn window_never_exceeds_max_in_any_window() {
        let p = Pacer::new(Limit::Window {
            max: 5,
            window: Duration::from_secs(10),
        });
        let mut times = Vec::new();
        for _ in 0..12 {
            p.acquire().await;
            times.push(Instant::now());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| u.duration_since(*t) < Duration::from_secs(10))
                .count();
            assert!(in_window <= 5, "window starting at {i} holds {in_window}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_blocks_until_retry_after() {
        let p = Pacer::new(Limit::Unlimited);
        p.throttled(Duration::from_secs(3));
        let start = Instant::now();
        p.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn server_reported_remaining_lowers_the_estimate() {
        let p = Pacer::new(Limit::Bucket {
            capacity: 40.0,
            per_second: 2.0,
        });
        p.observe_remaining(0.0);
        let start = Instant::now();
        p.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(490));
    }

    #[tokio::test(start_paused = true)]
    async fn sends_before_the_limit_is_known_count_in_its_window() {
        let p = Pacer::new(Limit::Unlimited);
        let start = Instant::now();
        for _ in 0..4 {
            p.acquire().await;
        }
        // The first answer reveals 5 per 10 s after only one request arrived.
        p.set_limit(Limit::Window {
            max: 5,
            window: Duration::from_secs(10),
        });
        p.observe_remaining(4.0);
        p.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(10));
        // Four sent unpaced plus one: the sixth waits for the window (and margin).
        p.acquire().await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(10_200), "{waited:?}");
        assert!(waited < Duration::from_millis(10_400), "{waited:?}");
    }
}
