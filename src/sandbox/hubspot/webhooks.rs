//! Outgoing webhooks for changes made inside the CRM (a user editing a contact):
//! `contact.propertyChange` events, one per changed property, delivered as a JSON
//! array and signed with HubSpot's v3 scheme (plus the legacy v1 header that
//! HubSpot still sends for CRM object subscriptions).
//!
//! Changes made through the API by the integration itself do not notify, so a
//! client syncing into the sandbox never receives its own writes back.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The sandbox portal (account) id in event payloads.
pub const PORTAL_ID: u64 = 62_515;
/// The sandbox app id in event payloads.
pub const APP_ID: u64 = 54_321;
/// HubSpot sends at most this many events per request.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// Delivery attempts before an event batch is dropped (HubSpot retries for
/// longer; the sandbox keeps tests short).
pub const ATTEMPTS: u32 = 3;

/// `base64(HMAC-SHA256(secret, method + uri + body + timestamp))`.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: i64) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Legacy v1: `hex(SHA256(secret + body))`.
pub fn sign_v1(secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One `contact.propertyChange` event.
pub fn property_change(
    event_id: u64,
    object_id: u64,
    property: &str,
    value: &str,
    occurred_at_ms: i64,
) -> Value {
    json!({
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": occurred_at_ms,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "propertyName": property,
        "propertyValue": value,
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    })
}

/// The result of delivering one request, kept for inspection.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Target URL.
    pub url: String,
    /// Number of events in the request.
    pub events: usize,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status, if any response arrived.
    pub status: Option<u16>,
}

/// Posts events (in chunks of 100) to `url`, retrying failures with a short
/// backoff. Each attempt is freshly timestamped and signed, as HubSpot does.
pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    events: Vec<Value>,
) -> Vec<Delivery> {
    let mut out = Vec::new();
    for chunk in events.chunks(MAX_EVENTS_PER_REQUEST) {
        let mut chunk: Vec<Value> = chunk.to_vec();
        let mut delivery = Delivery {
            url: url.to_string(),
            events: chunk.len(),
            attempts: 0,
            status: None,
        };
        for attempt in 0..ATTEMPTS {
            for e in &mut chunk {
                e["attemptNumber"] = json!(attempt);
            }
            let body = Value::Array(chunk.clone()).to_string().into_bytes();
            let ts = chrono::Utc::now().timestamp_millis();
            let result = client
                .post(url)
                .header("Content-Type", "application/json")
                .header(
                    "X-HubSpot-Signature-v3",
                    sign_v3(secret, "POST", url, &body, ts),
                )
                .header("X-HubSpot-Request-Timestamp", ts.to_string())
                .header("X-HubSpot-Signature", sign_v1(secret, &body))
                .header("X-HubSpot-Signature-Version", "v1")
                .timeout(Duration::from_secs(5))
                .body(body)
                .send()
                .await;
            delivery.attempts = attempt + 1;
            match result {
                Ok(resp) => {
                    delivery.status = Some(resp.status().as_u16());
                    if resp.status().is_success() {
                        break;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "hubspot sandbox webhook delivery failed"),
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
        }
        out.push(delivery);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_signature_is_stable() {
        let a = sign_v3(
            "secret",
            "POST",
            "https://example.com/hook",
            b"[]",
            1_700_000_000_000,
        );
        let b = sign_v3(
            "secret",
            "POST",
            "https://example.com/hook",
            b"[]",
            1_700_000_000_000,
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            sign_v3(
                "other",
                "POST",
                "https://example.com/hook",
                b"[]",
                1_700_000_000_000
            )
        );
        assert_eq!(a.len(), 44);
    }
}
