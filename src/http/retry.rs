//! When and how long to retry. 429, 5xx (except 501), timeouts and connection errors
//! are retried with exponential backoff and full jitter; a server's Retry-After
//! (seconds, possibly decimal like Shopify's "2.0", or an HTTP date) takes precedence
//! over our own backoff.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;

/// Retry budget and backoff shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest single backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt` (1 = first retry): full jitter over an
    /// exponentially growing ceiling, so many clients do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        let jittered = rand::rng().random_range(0.5..=1.0) * ceiling.as_secs_f64();
        Duration::from_secs_f64(jittered)
    }
}

/// Whether a status is worth retrying.
pub fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// Parse a Retry-After value: seconds (integer or decimal) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.to_utc() - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2.0"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn which_statuses_retry() {
        for s in [429, 500, 502, 503, 504, 408] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let b1 = p.backoff(1);
        assert!(
            b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(200),
            "{b1:?}"
        );
        assert!(p.backoff(10) <= Duration::from_secs(1));
        assert!(p.backoff(10) >= Duration::from_millis(500));
    }
}
