//! HubSpot CRM contacts emulator: `/crm/v3/objects/contacts` (list, read, single
//! writes, batch read/create/update/upsert/archive, search), `/crm/v3/properties/
//! contacts`, the ten-second rolling rate limit with HubSpot's headers and 429
//! body, and v3-signed webhooks for edits made "inside the CRM" through the admin
//! endpoint `POST /_sandbox/hubspot/contacts/{id}/edit`.
//!
//! Written from HubSpot's documentation (research notes, section C), independently
//! of `connectors::hubspot`, so each checks the other. The same routes are also
//! served under the date-versioned prefix `/crm/objects/2026-03/contacts`.
//!
//! Default credentials: token `sandbox-hubspot-token`, client secret
//! `sandbox-hubspot-secret`.
//!
//! Admin routes (no auth, not rate limited): `GET /_sandbox/hubspot/state`,
//! `POST /_sandbox/hubspot/reset` (back to the seed), `POST /_sandbox/hubspot/
//! contacts/{id}/edit` (body `{"properties":{...}}`: a CRM user's edit, which
//! notifies the webhook), `POST /_sandbox/hubspot/webhook-url` (body `{"url":…}`,
//! null to stop) and `GET /_sandbox/hubspot/webhooks` (deliveries made).
//!
//! Known simplifications: the search index is immediately consistent (HubSpot's
//! lags by seconds); errors of a batch are reported one per failing input rather
//! than grouped by category; property history is not kept.

pub mod batch;
pub mod errors;
pub mod properties;
pub mod rate_limit;
mod routes;
pub mod search;
pub mod store;
pub mod webhooks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::sandbox::seed::SeedContact;
use errors::{ApiError, json_response};
use store::Store;

/// Default private-app token.
pub const DEFAULT_TOKEN: &str = "sandbox-hubspot-token";
/// Default app client secret (signs webhooks).
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-hubspot-secret";

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct HubSpotOptions {
    /// Accepted `Authorization: Bearer` token.
    pub token: String,
    /// App client secret used to sign webhooks.
    pub client_secret: String,
    /// Ten-second rolling limit; 0 turns all rate limits off. Default 100.
    pub requests_per_10s: u32,
    /// Where CRM-side edits are notified, if anywhere.
    pub webhook_url: Option<String>,
}

impl Default for HubSpotOptions {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_string(),
            client_secret: DEFAULT_CLIENT_SECRET.to_string(),
            requests_per_10s: 100,
            webhook_url: None,
        }
    }
}

/// The emulator: shared state behind mutexes (never held across an await).
pub struct HubSpot {
    opts: HubSpotOptions,
    seed: Vec<SeedContact>,
    store: Mutex<Store>,
    limiter: Mutex<rate_limit::Limiter>,
    webhook_url: Mutex<Option<String>>,
    deliveries: Mutex<Vec<webhooks::Delivery>>,
    next_event_id: AtomicU64,
    client: reqwest::Client,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the
/// sandbox state stays usable for inspection.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HubSpot {
    /// An emulator holding `seed` contacts.
    pub fn new(opts: HubSpotOptions, seed: Vec<SeedContact>) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(Store::from_seed(&seed)),
            limiter: Mutex::new(rate_limit::Limiter::new(opts.requests_per_10s)),
            webhook_url: Mutex::new(opts.webhook_url.clone()),
            deliveries: Mutex::new(Vec::new()),
            next_event_id: AtomicU64::new(1),
            client: reqwest::Client::new(),
            seed,
            opts,
        })
    }

    /// The HTTP routes (API under `/crm/`, admin under `/_sandbox/hubspot/`).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        routes::router(self.clone())
    }

    /// Settings in use.
    pub fn options(&self) -> &HubSpotOptions {
        &self.opts
    }

    /// All contacts (archived ones flagged) with every property, for inspection.
    pub fn state_json(&self) -> Value {
        let store = lock(&self.store);
        let contacts: Vec<Value> = store.all().map(store::Contact::to_full_json).collect();
        json!({
            "contacts": contacts,
            "properties": store.schema.all().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "webhook_deliveries": lock(&self.deliveries).len(),
        })
    }

    /// Restores the seeded contacts and clears rate-limit counters.
    pub fn reset(&self) {
        *lock(&self.store) = Store::from_seed(&self.seed);
        lock(&self.limiter).reset();
        lock(&self.deliveries).clear();
    }

    /// Changes where CRM-side edits are notified.
    pub fn set_webhook_url(&self, url: Option<String>) {
        *lock(&self.webhook_url) = url;
    }

    /// Webhook requests made so far: `(url, events, attempts, last status)`.
    pub fn webhook_deliveries(&self) -> Value {
        let list: Vec<Value> = lock(&self.deliveries)
            .iter()
            .map(|d| json!({"url": d.url, "events": d.events, "attempts": d.attempts, "status": d.status}))
            .collect();
        Value::Array(list)
    }

    /// A CRM user edits a contact: validates like the API, applies, bumps
    /// `lastmodifieddate`, and (inside a Tokio runtime, with a webhook URL set)
    /// sends one `contact.propertyChange` event per changed property. Returns the
    /// contact and the events.
    pub fn edit_contact(
        self: &Arc<Self>,
        id: u64,
        props: &serde_json::Map<String, Value>,
    ) -> Result<(Value, Vec<Value>), ApiError> {
        let (contact, events) = {
            let mut store = lock(&self.store);
            if store.get(id).is_none() {
                return Err(ApiError::not_found(format!("Contact {id} does not exist")));
            }
            let props = store
                .schema
                .validate_write(props)
                .map_err(|i| properties::issues_to_error(&i))?;
            if let Some((prop, owner)) = store.unique_conflict(&props, Some(id)) {
                return Err(ApiError::conflict(format!(
                    "Another contact ({owner}) already has this {prop}"
                )));
            }
            let changed = store.update(id, &props);
            let Some(c) = store.get(id) else {
                return Err(ApiError::not_found(format!("Contact {id} does not exist")));
            };
            let at = c.updated_at.timestamp_millis();
            let events: Vec<Value> = changed
                .iter()
                .map(|p| {
                    let eid = self.next_event_id.fetch_add(1, Ordering::Relaxed);
                    webhooks::property_change(eid, id, p, &c.value(p).unwrap_or_default(), at)
                })
                .collect();
            (c.to_full_json(), events)
        };
        self.notify(events.clone());
        Ok((contact, events))
    }

    fn notify(self: &Arc<Self>, events: Vec<Value>) {
        let Some(url) = lock(&self.webhook_url).clone() else {
            return;
        };
        if events.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("hubspot sandbox: no runtime, webhook not sent");
            return;
        };
        let me = self.clone();
        handle.spawn(async move {
            let done = webhooks::deliver(&me.client, &url, &me.opts.client_secret, events).await;
            lock(&me.deliveries).extend(done);
        });
    }

    /// A HubSpot-shaped response for a fault injected by the chaos layer: 429 (the
    /// ten-second limit body), 401 (expired token), or a 5xx error body.
    pub fn chaos_response(status: StatusCode, retry_after_secs: Option<f64>) -> Response {
        let body = match status.as_u16() {
            429 => errors::ten_secondly_body(),
            401 => ApiError::unauthorized(
                "The OAuth token used to make this call expired 1 minute(s) ago.",
            )
            .with_context("expired", vec!["true".into()])
            .body(),
            s => ApiError::new(
                status,
                if s >= 500 {
                    "INTERNAL_ERROR"
                } else {
                    "VALIDATION_ERROR"
                },
                status
                    .canonical_reason()
                    .unwrap_or("internal error")
                    .to_string(),
            )
            .body(),
        };
        let mut resp = json_response(status, &body);
        let h = resp.headers_mut();
        if status == StatusCode::TOO_MANY_REQUESTS {
            h.insert(
                "X-HubSpot-RateLimit-Interval-Milliseconds",
                HeaderValue::from_static("10000"),
            );
            h.insert(
                "X-HubSpot-RateLimit-Remaining",
                HeaderValue::from_static("0"),
            );
        }
        if let Some(secs) = retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&(secs.max(0.0).ceil() as u64).to_string())
        {
            h.insert("Retry-After", v);
        }
        resp
    }
}
