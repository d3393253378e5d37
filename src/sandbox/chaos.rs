//! Chaos: faults injected into platform responses (error statuses, latency, hangs
//! past a client's timeout, expired tokens) and into outgoing webhooks (dropped,
//! duplicated, out of order, delayed). Set by CLI flags at start and replaced at run
//! time with `POST /_sandbox/chaos`; draws come from a seeded ChaCha8 stream, so a
//! run with the same seed and the same request sequence injects the same faults.
//! Admin routes (`/_sandbox/...`) are never touched.

use std::sync::{Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The knobs. Rates are probabilities in [0, 1] per request (or per delivery).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    pub error_429: f64,
    pub error_500: f64,
    pub error_502: f64,
    pub error_503: f64,
    /// Share of requests that hang for `timeout_secs` and then get 504.
    pub timeout_rate: f64,
    pub timeout_secs: f64,
    /// Latency added to every platform response, milliseconds.
    pub latency_ms: u64,
    /// Every platform request gets 401 as if the token had expired.
    pub token_expired: bool,
    pub webhook_drop: f64,
    pub webhook_duplicate: f64,
    /// Share of deliveries held back and sent after the next one.
    pub webhook_reorder: f64,
    pub webhook_delay_ms: u64,
    /// Seed of the fault draws (re-seeded when the config is replaced).
    pub seed: u64,
}

impl Default for ChaosConfig {
    /// Everything off; a hang, once switched on, lasts 30 s (past most clients' timeouts).
    fn default() -> Self {
        ChaosConfig {
            error_429: 0.0,
            error_500: 0.0,
            error_502: 0.0,
            error_503: 0.0,
            timeout_rate: 0.0,
            timeout_secs: 30.0,
            latency_ms: 0,
            token_expired: false,
            webhook_drop: 0.0,
            webhook_duplicate: 0.0,
            webhook_reorder: 0.0,
            webhook_delay_ms: 0,
            seed: 0,
        }
    }
}

impl ChaosConfig {
    /// Reject rates outside [0, 1] and error rates that add up past 1.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("error_429", self.error_429),
            ("error_500", self.error_500),
            ("error_502", self.error_502),
            ("error_503", self.error_503),
            ("timeout_rate", self.timeout_rate),
            ("webhook_drop", self.webhook_drop),
            ("webhook_duplicate", self.webhook_duplicate),
            ("webhook_reorder", self.webhook_reorder),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} must be between 0 and 1, got {r}"));
            }
        }
        let sum =
            self.error_429 + self.error_500 + self.error_502 + self.error_503 + self.timeout_rate;
        if sum > 1.0 + 1e-9 {
            return Err(format!("error rates add up to {sum}, more than 1"));
        }
        if !(self.timeout_secs >= 0.0 && self.timeout_secs.is_finite()) {
            return Err("timeout_secs must be a non-negative number".into());
        }
        Ok(())
    }
}

/// What to do with one platform request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer normally (after the added latency, if any).
    Pass(Duration),
    /// Answer with this status and the platform's error body.
    Status(StatusCode, Duration),
    /// Hang, then answer 504.
    Hang(Duration),
}

/// What to do with one webhook delivery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WebhookFault {
    pub drop: bool,
    pub duplicate: bool,
    pub reorder: bool,
    pub delay: Duration,
}

pub struct Chaos {
    cfg: RwLock<ChaosConfig>,
    rng: Mutex<ChaCha8Rng>,
}

impl Chaos {
    pub fn new(cfg: ChaosConfig) -> Chaos {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        Chaos {
            cfg: RwLock::new(cfg),
            rng: Mutex::new(rng),
        }
    }

    pub fn config(&self) -> ChaosConfig {
        self.cfg.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, cfg: ChaosConfig) -> Result<(), String> {
        cfg.validate()?;
        *self.rng.lock().unwrap_or_else(|p| p.into_inner()) = ChaCha8Rng::seed_from_u64(cfg.seed);
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = cfg;
        Ok(())
    }

    fn draw(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).random()
    }

    pub fn request(&self) -> Fault {
        let c = self.config();
        let latency = Duration::from_millis(c.latency_ms);
        if c.token_expired {
            return Fault::Status(StatusCode::UNAUTHORIZED, latency);
        }
        let total = c.error_429 + c.error_500 + c.error_502 + c.error_503 + c.timeout_rate;
        if total <= 0.0 {
            return Fault::Pass(latency);
        }
        let u = self.draw();
        let mut acc = 0.0;
        for (rate, status) in [
            (c.error_429, StatusCode::TOO_MANY_REQUESTS),
            (c.error_500, StatusCode::INTERNAL_SERVER_ERROR),
            (c.error_502, StatusCode::BAD_GATEWAY),
            (c.error_503, StatusCode::SERVICE_UNAVAILABLE),
        ] {
            acc += rate;
            if u < acc {
                return Fault::Status(status, latency);
            }
        }
        if u < acc + c.timeout_rate {
            return Fault::Hang(Duration::from_secs_f64(c.timeout_secs.max(0.0)));
        }
        Fault::Pass(latency)
    }

    pub fn webhook(&self) -> WebhookFault {
        let c = self.config();
        let mut f = WebhookFault {
            drop: false,
            duplicate: false,
            reorder: false,
            delay: Duration::from_millis(c.webhook_delay_ms),
        };
        if c.webhook_drop > 0.0 {
            f.drop = self.draw() < c.webhook_drop;
        }
        if c.webhook_duplicate > 0.0 {
            f.duplicate = self.draw() < c.webhook_duplicate;
        }
        if c.webhook_reorder > 0.0 {
            f.reorder = self.draw() < c.webhook_reorder;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_roughly_honoured_and_seeded() {
        let cfg = ChaosConfig {
            error_500: 0.25,
            seed: 7,
            ..ChaosConfig::default()
        };
        let a = Chaos::new(cfg.clone());
        let b = Chaos::new(cfg);
        let fa: Vec<Fault> = (0..2000).map(|_| a.request()).collect();
        let fb: Vec<Fault> = (0..2000).map(|_| b.request()).collect();
        assert_eq!(fa, fb);
        let errs = fa
            .iter()
            .filter(|f| matches!(f, Fault::Status(s, _) if s.as_u16() == 500))
            .count();
        assert!((400..600).contains(&errs), "{errs}");
    }

    #[test]
    fn invalid_rates_are_refused() {
        let c = Chaos::new(ChaosConfig::default());
        assert!(
            c.set(ChaosConfig {
                error_429: 1.5,
                ..ChaosConfig::default()
            })
            .is_err()
        );
        assert!(
            c.set(ChaosConfig {
                error_429: 0.6,
                error_500: 0.6,
                ..ChaosConfig::default()
            })
            .is_err()
        );
    }
}
