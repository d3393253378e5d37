//! Klaviyo emulator: `/api/profile-import`, `/api/profiles`,
//! `/api/profile-bulk-import-jobs` and `/api/events`, with the mandatory
//! `revision` header, `Klaviyo-API-Key` auth, JSON:API bodies and errors, and
//! per-endpoint burst (1 s) / steady (1 min) fixed-window limits.
//!
//! Written from Klaviyo's documentation (research notes, section D),
//! independently of `connectors::klaviyo`. Paths are accepted with and without a
//! trailing slash. Default API key: `pk_sandbox_klaviyo_key`.
//!
//! Admin routes (no auth, not rate limited): `GET /_sandbox/klaviyo/state`
//! (profiles, events with metric names, jobs) and `POST /_sandbox/klaviyo/reset`.
//!
//! Known simplifications: windows are per endpoint for the one account (all keys
//! share them, as private keys do); lists, segments, subscriptions and
//! `meta.patch_properties` are not modelled; `or`/`not` filters are refused.

pub mod bulk;
pub mod errors;
pub mod events;
pub mod filter;
pub mod profiles;
pub mod rate_limit;
mod routes;
pub mod store;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::sandbox::seed::SeedProfile;
use errors::{ApiError, api_response};

/// Default private API key.
pub const DEFAULT_API_KEY: &str = "pk_sandbox_klaviyo_key";

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct KlaviyoOptions {
    /// Accepted `Authorization: Klaviyo-API-Key` value.
    pub api_key: String,
    /// Multiplier on every endpoint's burst (per-second) limit; 1.0 = Klaviyo's
    /// numbers, 0 = burst window off. Scaled limits never drop below 1.
    pub burst_scale: f64,
    /// Multiplier on every endpoint's steady (per-minute) limit; 0 = off.
    pub steady_scale: f64,
    /// How long a bulk import job stays in each of `queued` and `processing`
    /// before its profiles are applied, in ms (default 500).
    pub bulk_job_step_ms: u64,
}

impl Default for KlaviyoOptions {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_string(),
            burst_scale: 1.0,
            steady_scale: 1.0,
            bulk_job_step_ms: 500,
        }
    }
}

/// Everything the account holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) profiles: store::Profiles,
    pub(crate) events: events::Events,
    pub(crate) jobs: bulk::Jobs,
}

/// The emulator: shared state behind mutexes (never held across an await).
pub struct Klaviyo {
    opts: KlaviyoOptions,
    seed: Vec<SeedProfile>,
    state: Mutex<State>,
    limiter: Mutex<rate_limit::Limiter>,
}

/// Locks a mutex, recovering from poisoning so the state stays inspectable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Klaviyo {
    /// An emulator holding `seed` profiles.
    pub fn new(opts: KlaviyoOptions, seed: Vec<SeedProfile>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                profiles: store::Profiles::from_seed(&seed),
                ..State::default()
            }),
            limiter: Mutex::new(rate_limit::Limiter::new(
                opts.burst_scale,
                opts.steady_scale,
            )),
            seed,
            opts,
        })
    }

    /// The HTTP routes (API under `/api/`, admin under `/_sandbox/klaviyo/`).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        routes::router(self.clone())
    }

    /// Settings in use.
    pub fn options(&self) -> &KlaviyoOptions {
        &self.opts
    }

    /// Profiles, events (with metric names) and bulk jobs, for inspection.
    pub fn state_json(&self) -> Value {
        let s = lock(&self.state);
        let base = "http://127.0.0.1";
        json!({
            "profiles": s.profiles.all().map(|p| {
                let mut r = p.to_resource(base, None);
                r["attributes"]["id"] = json!(p.id);
                r["attributes"].clone()
            }).collect::<Vec<_>>(),
            "events": s.events.list.iter().map(events::Event::to_state).collect::<Vec<_>>(),
            "metrics": s.events.metrics,
            "bulk_import_jobs": s.jobs.values().map(|j| j.to_resource(base)["attributes"].clone()).collect::<Vec<_>>(),
        })
    }

    /// Restores the seeded profiles, drops events and jobs, clears rate limits.
    pub fn reset(&self) {
        *lock(&self.state) = State {
            profiles: store::Profiles::from_seed(&self.seed),
            ..State::default()
        };
        lock(&self.limiter).reset();
    }

    /// A Klaviyo-shaped response for an injected fault: 429 (throttled body and
    /// `Retry-After`), 401 (expired/revoked key) or a 5xx JSON:API error.
    pub fn chaos_response(status: StatusCode, retry_after_secs: Option<f64>) -> Response {
        let secs = retry_after_secs.map(|s| s.max(0.0).ceil() as u64);
        let err = match status.as_u16() {
            429 => ApiError::throttled(secs.unwrap_or(1)),
            401 => ApiError::authentication_failed(),
            _ => ApiError::server(status),
        };
        let mut resp = api_response(status, Some(&err.body()));
        let secs = if status == StatusCode::TOO_MANY_REQUESTS {
            Some(secs.unwrap_or(1))
        } else {
            secs
        };
        if let Some(s) = secs
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert("Retry-After", v);
        }
        resp
    }
}
