//! Klaviyo's per-account, per-endpoint fixed windows: a burst window (1 s) and a
//! steady window (1 min); exceeding either answers 429. Limits follow each
//! endpoint's documented tier, multiplied by scale knobs so tests can make them
//! tiny (a scale of 0 switches that window off).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Limits of one endpoint: (burst per second, steady per minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// `POST /api/profile-import`: 75/s, 750/m.
    ProfileImport,
    /// Bulk import jobs (create, get, errors): 10/s, 150/m.
    BulkJobs,
    /// `POST /api/events`: 350/s, 3500/m.
    CreateEvent,
    /// `GET /api/events`: 350/s, 3500/m.
    GetEvents,
    /// `GET /api/profiles[/{id}]` (tier L): 75/s, 700/m.
    GetProfiles,
}

impl Tier {
    fn limits(self) -> (u32, u32) {
        match self {
            Tier::ProfileImport => (75, 750),
            Tier::BulkJobs => (10, 150),
            Tier::CreateEvent | Tier::GetEvents => (350, 3500),
            Tier::GetProfiles => (75, 700),
        }
    }
}

/// The headers of an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// `RateLimit-Limit` (steady window, or burst when steady is off).
    pub limit: u32,
    /// `RateLimit-Remaining`.
    pub remaining: u32,
    /// `RateLimit-Reset`, whole seconds until that window resets.
    pub reset_secs: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    index: u64,
    count: u32,
}

/// Counters for every endpoint.
#[derive(Debug)]
pub struct Limiter {
    origin: Instant,
    burst_scale: f64,
    steady_scale: f64,
    windows: HashMap<(Tier, bool), Window>,
}

fn scaled(base: u32, scale: f64) -> Option<u32> {
    (scale > 0.0).then(|| ((f64::from(base) * scale).round() as u32).max(1))
}

impl Limiter {
    /// Limits scaled by the knobs (1.0 = Klaviyo's numbers, 0 = off).
    pub fn new(burst_scale: f64, steady_scale: f64) -> Self {
        Self {
            origin: Instant::now(),
            burst_scale,
            steady_scale,
            windows: HashMap::new(),
        }
    }

    /// Admits a request now, or returns whole seconds until it would be admitted.
    pub fn check(&mut self, tier: Tier, now: Instant) -> Result<Admitted, u64> {
        let (burst, steady) = tier.limits();
        let elapsed = now.duration_since(self.origin);
        let mut checks = Vec::new();
        if let Some(max) = scaled(burst, self.burst_scale) {
            checks.push((false, max, Duration::from_secs(1)));
        }
        if let Some(max) = scaled(steady, self.steady_scale) {
            checks.push((true, max, Duration::from_secs(60)));
        }
        let mut blocked: Option<u64> = None;
        let mut states = Vec::new();
        for (is_steady, max, len) in &checks {
            let index = (elapsed.as_millis() / len.as_millis()) as u64;
            let w = self.windows.entry((tier, *is_steady)).or_default();
            if w.index != index {
                *w = Window { index, count: 0 };
            }
            let reset =
                (len.as_millis() as u64 * (index + 1)).saturating_sub(elapsed.as_millis() as u64);
            let reset_secs = reset.div_ceil(1000);
            if w.count >= *max {
                blocked = Some(blocked.unwrap_or(0).max(reset_secs));
            }
            states.push((*is_steady, *max, reset_secs));
        }
        if let Some(wait) = blocked {
            return Err(wait);
        }
        let mut admitted = Admitted {
            limit: 0,
            remaining: 0,
            reset_secs: 0,
        };
        for (is_steady, max, reset_secs) in states {
            let w = self.windows.entry((tier, is_steady)).or_default();
            w.count += 1;
            // The headers describe the steady window; the last entry wins.
            admitted = Admitted {
                limit: max,
                remaining: max - w.count,
                reset_secs,
            };
        }
        if checks.is_empty() {
            admitted = Admitted {
                limit: steady,
                remaining: steady,
                reset_secs: 60,
            };
        }
        Ok(admitted)
    }

    /// Clears all counters.
    pub fn reset(&mut self) {
        self.windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_window_refuses_then_reopens() {
        let mut l = Limiter::new(1.0 / 75.0 * 2.0, 0.0);
        let t0 = l.origin;
        assert!(l.check(Tier::ProfileImport, t0).is_ok());
        assert!(l.check(Tier::ProfileImport, t0).is_ok());
        assert_eq!(l.check(Tier::ProfileImport, t0), Err(1));
        assert!(
            l.check(Tier::GetProfiles, t0).is_ok(),
            "windows are per endpoint"
        );
        assert!(
            l.check(Tier::ProfileImport, t0 + Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn steady_window_reports_remaining_and_reset() {
        let mut l = Limiter::new(1.0, 0.02);
        let t0 = l.origin;
        let a = l.check(Tier::BulkJobs, t0).unwrap();
        assert_eq!((a.limit, a.remaining, a.reset_secs), (3, 2, 60));
        l.check(Tier::BulkJobs, t0).unwrap();
        l.check(Tier::BulkJobs, t0).unwrap();
        assert_eq!(
            l.check(Tier::BulkJobs, t0 + Duration::from_secs(30)),
            Err(30)
        );
    }
}
