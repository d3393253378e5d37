//! The Shopify emulator over real HTTP with a plain client: pagination, the real
//! parameter rules, the leaky bucket, auth, webhook signatures (checked with an HMAC
//! computed here), determinism, chaos and the request log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use lockstep::sandbox::generator::{self, GeneratorConfig};
use lockstep::sandbox::shopify::rate_limit::BucketConfig;
use lockstep::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support;

mod api;
mod chaos;
mod webhooks;

const V: &str = "2026-07";

fn config(customers: usize, orders: usize, seed: u64) -> SandboxConfig {
    let mut cfg = SandboxConfig {
        generator: GeneratorConfig {
            seed,
            customers,
            orders,
            ..GeneratorConfig::default()
        },
        ..SandboxConfig::default()
    };
    cfg.shopify.bucket = BucketConfig {
        size: 0,
        leak_per_sec: 0.0,
    };
    cfg.shopify.webhook_retry_base = Duration::from_millis(10);
    cfg
}

async fn start(cfg: SandboxConfig) -> SandboxHandle {
    match Sandbox::start(cfg).await {
        Ok(h) => h,
        Err(e) => panic!("sandbox did not start: {e}"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn get(sb: &SandboxHandle, url: &str) -> reqwest::Response {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", sb.base_url)
    };
    client()
        .get(url)
        .header(
            "X-Shopify-Access-Token",
            &sb.credentials.shopify_access_token,
        )
        .send()
        .await
        .expect("request")
}

/// The `rel="next"` URL of a Link header, parsed as a client would.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(", ")
        .find(|l| l.ends_with("rel=\"next\""))
        .map(|l| {
            let start = l.find('<').unwrap_or(0) + 1;
            let end = l.find('>').unwrap_or(l.len());
            l[start..end].to_string()
        })
}

/// Walk a list endpoint by Link headers, returning every id seen.
async fn walk(sb: &SandboxHandle, first: &str, key: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut url = Some(first.to_string());
    let mut pages = 0;
    while let Some(u) = url.take() {
        pages += 1;
        assert!(pages < 1000, "pagination does not end");
        let r = get(sb, &u).await;
        assert_eq!(r.status(), StatusCode::OK, "{u}");
        url = next_link(r.headers());
        let body: Value = r.json().await.expect("json");
        for item in body[key].as_array().expect("list") {
            ids.push(item["id"].as_u64().expect("id"));
        }
    }
    ids
}

/// A webhook receiver on 127.0.0.1 that fails the first `fail_first` deliveries.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let mut v = g.lock().expect("lock");
                v.push((headers, body));
                if v.len() <= fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let base = support::serve(app).await;
    (format!("{base}/hooks"), got)
}

async fn wait_for(got: &Arc<Mutex<Vec<(HeaderMap, Bytes)>>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().expect("lock").len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The JSON the sandbox's control API answers at `path` (`/_sandbox/...`).
async fn control(sb: &SandboxHandle, path: &str) -> Value {
    client()
        .get(format!("{}{path}", sb.base_url))
        .send()
        .await
        .expect("control request")
        .json()
        .await
        .expect("control JSON")
}

async fn deliveries(sb: &SandboxHandle) -> Vec<Value> {
    let v = control(sb, "/_sandbox/webhooks/deliveries").await;
    v["deliveries"].as_array().cloned().unwrap_or_default()
}
