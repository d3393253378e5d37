//! Outgoing webhooks: subscriptions per topic and address, deliveries signed with
//! `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app secret, raw body)) and the rest of
//! Shopify's headers, retried up to 8 tries with exponential backoff (the base delay
//! is configurable so tests run the whole schedule in milliseconds). Chaos may drop,
//! duplicate, delay or reorder deliveries; every delivery is recorded for inspection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::sandbox::chaos::Chaos;

/// Topics the sandbox can deliver.
pub const TOPICS: &[&str] = &[
    "customers/create",
    "customers/update",
    "customers/redact",
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "refunds/create",
    "inventory_levels/update",
];

/// Shopify's retry policy: 8 tries in all.
pub const MAX_TRIES: u32 = 8;
/// Shopify cuts a delivery off after 5 seconds.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reordered delivery waits for a later one to overtake it.
const REORDER_HOLD: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, Serialize)]
pub struct Subscription {
    pub id: u64,
    pub topic: String,
    pub address: String,
    pub api_version: String,
    pub format: &'static str,
    pub created_at: String,
}

/// One delivery (one event to one subscription) and how it went.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub webhook_id: String,
    pub event_id: String,
    pub topic: String,
    pub address: String,
    /// pending | delivered | failed | dropped
    pub status: &'static str,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub duplicate: bool,
    pub reordered: bool,
}

#[derive(Clone)]
struct Outgoing {
    record: usize,
    address: String,
    headers: Vec<(&'static str, String)>,
    body: Arc<Vec<u8>>,
    delay: Duration,
}

pub struct Webhooks {
    secret: String,
    shop_domain: String,
    retry_base: Duration,
    chaos: Arc<Chaos>,
    subs: Mutex<Vec<Subscription>>,
    next_id: AtomicU64,
    records: Arc<Mutex<Vec<DeliveryRecord>>>,
    held: Mutex<Option<Outgoing>>,
    client: reqwest::Client,
}

/// base64(HMAC-SHA256(secret, body)): the `X-Shopify-Hmac-Sha256` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

impl Webhooks {
    pub fn new(
        secret: String,
        shop_domain: String,
        retry_base: Duration,
        chaos: Arc<Chaos>,
    ) -> Arc<Webhooks> {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .unwrap_or_default();
        Arc::new(Webhooks {
            secret,
            shop_domain,
            retry_base,
            chaos,
            subs: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1_047_000_000),
            records: Arc::new(Mutex::new(Vec::new())),
            held: Mutex::new(None),
            client,
        })
    }

    pub fn subscribe(&self, topic: &str, address: &str, version: &str) -> Result<Value, String> {
        if !TOPICS.contains(&topic) {
            return Err(format!("Topic Invalid topic specified: {topic}"));
        }
        let url = url::Url::parse(address).map_err(|_| "Address is invalid".to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("Address protocol http:// is not supported".into());
        }
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        if subs
            .iter()
            .any(|s| s.topic == topic && s.address == address)
        {
            return Err("Address for this topic has already been taken".into());
        }
        let sub = Subscription {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            topic: topic.into(),
            address: address.into(),
            api_version: version.into(),
            format: "json",
            created_at: chrono::Utc::now().to_rfc3339(),
        };
        let v = serde_json::to_value(&sub).unwrap_or(Value::Null);
        subs.push(sub);
        Ok(v)
    }

    pub fn unsubscribe(&self, id: u64) -> bool {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let before = subs.len();
        subs.retain(|s| s.id != id);
        subs.len() != before
    }

    pub fn list_json(&self) -> Vec<Value> {
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect()
    }

    pub fn records_json(&self) -> Value {
        let r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        json!({ "deliveries": &*r })
    }

    /// Deliver one event to every subscription of its topic.
    pub fn emit(self: &Arc<Self>, topic: &str, payload: &Value, triggered_at: &str) {
        let subs: Vec<Subscription> = {
            let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter().filter(|s| s.topic == topic).cloned().collect()
        };
        if subs.is_empty() {
            return;
        }
        let body = Arc::new(serde_json::to_vec(payload).unwrap_or_default());
        let hmac = sign(&self.secret, &body);
        let event_id = uuid::Uuid::new_v4().to_string();
        for sub in subs {
            let fault = self.chaos.webhook();
            let webhook_id = uuid::Uuid::new_v4().to_string();
            let headers = vec![
                ("content-type", "application/json".to_string()),
                ("user-agent", "Shopify-Captain-Hook".to_string()),
                ("x-shopify-topic", topic.to_string()),
                ("x-shopify-hmac-sha256", hmac.clone()),
                ("x-shopify-shop-domain", self.shop_domain.clone()),
                ("x-shopify-api-version", sub.api_version.clone()),
                ("x-shopify-webhook-id", webhook_id.clone()),
                ("x-shopify-event-id", event_id.clone()),
                ("x-shopify-triggered-at", triggered_at.to_string()),
            ];
            let record = DeliveryRecord {
                webhook_id,
                event_id: event_id.clone(),
                topic: topic.to_string(),
                address: sub.address.clone(),
                status: if fault.drop { "dropped" } else { "pending" },
                attempts: 0,
                last_status: None,
                duplicate: false,
                reordered: fault.reorder,
            };
            let idx = self.push_record(record);
            if fault.drop {
                continue;
            }
            let out = Outgoing {
                record: idx,
                address: sub.address.clone(),
                headers,
                body: body.clone(),
                delay: fault.delay,
            };
            if fault.duplicate {
                let mut dup = out.clone();
                let mut rec = self.record(out.record);
                rec.duplicate = true;
                dup.record = self.push_record(rec);
                self.spawn(dup);
            }
            // Held back only when nothing else is: the next delivery then overtakes it.
            if fault.reorder
                && self
                    .held
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_none()
            {
                self.hold(out);
            } else {
                self.spawn(out);
                self.release_held();
            }
        }
    }

    fn record(&self, i: usize) -> DeliveryRecord {
        let r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.get(i).cloned().unwrap_or_else(|| DeliveryRecord {
            webhook_id: String::new(),
            event_id: String::new(),
            topic: String::new(),
            address: String::new(),
            status: "pending",
            attempts: 0,
            last_status: None,
            duplicate: false,
            reordered: false,
        })
    }

    fn push_record(&self, rec: DeliveryRecord) -> usize {
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.push(rec);
        r.len() - 1
    }

    /// Hold a delivery back so that the next one overtakes it.
    fn hold(self: &Arc<Self>, out: Outgoing) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REORDER_HOLD).await;
            me.release_held();
        });
    }

    fn release_held(self: &Arc<Self>) {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = held {
            let me = self.clone();
            // A beat later, so that the delivery that overtook it is on the wire first.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                me.spawn(h);
            });
        }
    }

    fn spawn(self: &Arc<Self>, out: Outgoing) {
        let me = self.clone();
        tokio::spawn(async move { me.deliver(out).await });
    }

    async fn deliver(&self, out: Outgoing) {
        if !out.delay.is_zero() {
            tokio::time::sleep(out.delay).await;
        }
        for attempt in 0..MAX_TRIES {
            let mut req = self
                .client
                .post(&out.address)
                .body(out.body.as_ref().clone());
            for (k, v) in &out.headers {
                req = req.header(*k, v);
            }
            let status = req.send().await.map(|r| r.status().as_u16()).ok();
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            {
                let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(rec) = r.get_mut(out.record) {
                    rec.attempts = attempt + 1;
                    rec.last_status = status;
                    rec.status = if ok {
                        "delivered"
                    } else if attempt + 1 == MAX_TRIES {
                        "failed"
                    } else {
                        "pending"
                    };
                }
            }
            if ok {
                return;
            }
            if attempt + 1 < MAX_TRIES {
                tokio::time::sleep(self.retry_base * 2u32.pow(attempt)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), base64.
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }
}
