//! The REST leaky bucket, per access token: each request adds one drop, the bucket
//! leaks at a steady rate, and a request that would overflow it gets 429.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Bucket size and leak rate; a size of 0 switches the limit off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketConfig {
    pub size: u32,
    pub leak_per_sec: f64,
}

impl Default for BucketConfig {
    fn default() -> Self {
        BucketConfig {
            size: 40,
            leak_per_sec: 2.0,
        }
    }
}

/// Outcome of one request against the bucket.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Admitted; the `X-Shopify-Shop-Api-Call-Limit` value to send.
    Ok(String),
    /// Refused: seconds until a drop fits, and the header value.
    Throttled(f64, String),
    /// The limit is switched off.
    Unlimited,
}

pub struct LeakyBucket {
    cfg: BucketConfig,
    levels: Mutex<HashMap<String, (f64, Instant)>>,
}

impl LeakyBucket {
    pub fn new(cfg: BucketConfig) -> LeakyBucket {
        LeakyBucket {
            cfg,
            levels: Mutex::new(HashMap::new()),
        }
    }

    pub fn admit(&self, token: &str) -> Admission {
        if self.cfg.size == 0 || self.cfg.leak_per_sec <= 0.0 {
            return Admission::Unlimited;
        }
        let now = Instant::now();
        let size = f64::from(self.cfg.size);
        let mut levels = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        let (level, at) = levels.entry(token.to_string()).or_insert((0.0, now));
        let leaked = now.duration_since(*at).as_secs_f64() * self.cfg.leak_per_sec;
        *level = (*level - leaked).max(0.0);
        *at = now;
        if *level + 1.0 > size + 1e-9 {
            let wait = ((*level + 1.0 - size) / self.cfg.leak_per_sec).max(0.1);
            return Admission::Throttled(wait, format!("{}/{}", self.cfg.size, self.cfg.size));
        }
        *level += 1.0;
        let used = (level.ceil() as u32).clamp(1, self.cfg.size);
        Admission::Ok(format!("{used}/{}", self.cfg.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_then_throttles() {
        let b = LeakyBucket::new(BucketConfig {
            size: 3,
            leak_per_sec: 0.001,
        });
        assert_eq!(b.admit("t"), Admission::Ok("1/3".into()));
        assert_eq!(b.admit("t"), Admission::Ok("2/3".into()));
        assert_eq!(b.admit("t"), Admission::Ok("3/3".into()));
        assert!(matches!(b.admit("t"), Admission::Throttled(_, _)));
        assert_eq!(b.admit("other"), Admission::Ok("1/3".into()));
    }
}
