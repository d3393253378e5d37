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

#[tokio::test]
async fn pagination_walks_every_record_exactly_once() {
    let cfg = config(120, 400, 11);
    let truth = generator::generate(&cfg.generator).store;
    let sb = start(cfg).await;

    let customers = walk(
        &sb,
        &format!("/admin/api/{V}/customers.json?limit=50"),
        "customers",
    )
    .await;
    let want: Vec<u64> = truth.customers.iter().map(|c| c.id).collect();
    assert_eq!(customers, want, "every customer once, in id order");

    let orders = walk(
        &sb,
        &format!("/admin/api/{V}/orders.json?status=any&limit=77"),
        "orders",
    )
    .await;
    let want: Vec<u64> = truth.orders.iter().map(|o| o.id).collect();
    assert_eq!(orders, want);

    // Incremental shape: updated_at window, ordered by updated_at.
    let min = truth.orders[truth.orders.len() / 2].updated_at;
    let min_s = chrono::DateTime::from_timestamp(min, 0)
        .expect("ts")
        .to_rfc3339();
    let first = format!(
        "/admin/api/{V}/orders.json?status=any&limit=33&order=updated_at%20asc&updated_at_min={}",
        url::form_urlencoded::byte_serialize(min_s.as_bytes()).collect::<String>()
    );
    let mut got = walk(&sb, &first, "orders").await;
    let mut want: Vec<(i64, u64)> = truth
        .orders
        .iter()
        .filter(|o| o.updated_at >= min)
        .map(|o| (o.updated_at, o.id))
        .collect();
    want.sort();
    assert_eq!(
        got,
        want.iter().map(|w| w.1).collect::<Vec<_>>(),
        "ordered by updated_at, then id"
    );
    got.sort();
    got.dedup();
    assert_eq!(got.len(), want.len(), "no duplicates");

    // Default status is open: closed and cancelled orders need status=any.
    let count = |q: &'static str| {
        let sb = &sb;
        async move {
            let r = get(sb, &format!("/admin/api/{V}/orders/count.json{q}")).await;
            r.json::<Value>().await.expect("json")["count"]
                .as_u64()
                .expect("count")
        }
    };
    let open = truth
        .orders
        .iter()
        .filter(|o| o.closed_at.is_none() && o.cancelled_at.is_none())
        .count() as u64;
    assert_eq!(count("").await, open);
    assert_eq!(count("?status=any").await, truth.orders.len() as u64);
    assert!(open < truth.orders.len() as u64);
    sb.shutdown().await;
}

#[tokio::test]
async fn forbidden_parameter_mixes_and_limits_are_rejected() {
    let sb = start(config(30, 120, 3)).await;
    let r = get(
        &sb,
        &format!("/admin/api/{V}/orders.json?status=any&limit=10"),
    )
    .await;
    let next = next_link(r.headers()).expect("a next link");
    assert!(
        next.contains("page_info=") && !next.contains("status="),
        "{next}"
    );

    // Filters other than limit/fields next to page_info: Shopify's 400.
    let r = get(&sb, &format!("{next}&status=any")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    let msg = body["errors"]["status"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("status cannot be passed when page_info is present"),
        "{body}"
    );
    let r = get(&sb, &format!("{next}&updated_at_min=2020-01-01T00:00:00Z")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // limit and fields may change.
    let r = get(&sb, &format!("{next}&fields=id,updated_at")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    let first = body["orders"][0].as_object().expect("order");
    assert_eq!(first.len(), 2, "fields projects: {first:?}");

    // A tampered cursor is refused.
    let bad = next.replace("page_info=", "page_info=x");
    let r = get(&sb, &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // limit: 250 is the maximum.
    assert_eq!(
        get(&sb, &format!("/admin/api/{V}/orders.json?limit=250"))
            .await
            .status(),
        StatusCode::OK
    );
    let r = get(&sb, &format!("/admin/api/{V}/orders.json?limit=251")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = get(&sb, &format!("/admin/api/{V}/customers.json?limit=0")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    sb.shutdown().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let sb = start(config(5, 10, 1)).await;
    let url = format!("{}/admin/api/{V}/customers.json", sb.base_url);
    let r = client().get(&url).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["errors"],
        "[API] Invalid API key or access token (unrecognized login or wrong password)"
    );
    let r = client()
        .get(&url)
        .header("X-Shopify-Access-Token", "shpat_wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&sb, &url).await.status(), StatusCode::OK);
    // Unknown API version shapes are not served.
    assert_eq!(
        get(&sb, "/admin/api/v3/customers.json").await.status(),
        StatusCode::NOT_FOUND
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn leaky_bucket_throttles_exactly_when_full_and_recovers_at_the_leak_rate() {
    let mut cfg = config(5, 10, 1);
    cfg.shopify.bucket = BucketConfig {
        size: 4,
        leak_per_sec: 1.0,
    };
    let sb = start(cfg).await;
    let url = format!("/admin/api/{V}/shop.json");
    // Timings leave ~0.9 s of slack for a loaded machine: one drop leaks per second.
    for used in 1..=4 {
        let r = get(&sb, &url).await;
        assert_eq!(r.status(), StatusCode::OK, "request {used} fits");
        let h = r.headers()["x-shopify-shop-api-call-limit"]
            .to_str()
            .expect("header");
        assert_eq!(h, format!("{used}/4"));
    }
    let r = get(&sb, &url).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the 5th overflows"
    );
    let retry: f64 = r.headers()["retry-after"]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("float seconds");
    assert!(
        retry > 0.0 && retry <= 1.0 + 1e-9,
        "one drop leaks in 1 s: {retry}"
    );
    let body: Value = r.json().await.expect("json");
    assert!(
        body["errors"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Exceeded 2 calls per second")
    );

    // After 1.1 s exactly one more request fits.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&sb, &url).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-shopify-shop-api-call-limit"], "4/4");
    assert_eq!(get(&sb, &url).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // After 2.1 s, two drops have leaked: two fit, the third overflows.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..2 {
        assert_eq!(get(&sb, &url).await.status(), StatusCode::OK);
    }
    assert_eq!(get(&sb, &url).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let log: Value = client()
        .get(format!("{}/_sandbox/requests", sb.base_url))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["throttled_429"], 3);
    sb.shutdown().await;
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks"), got)
}

async fn wait_for(got: &Arc<Mutex<Vec<(HeaderMap, Bytes)>>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().expect("lock").len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn webhooks_carry_verifiable_signatures_and_are_retried() {
    let sb = start(config(20, 60, 5)).await;
    let (hook, got) = receiver(2).await;
    let http = client();
    let r = http
        .post(format!("{}/admin/api/{V}/webhooks.json", sb.base_url))
        .header(
            "X-Shopify-Access-Token",
            &sb.credentials.shopify_access_token,
        )
        .json(&json!({"webhook": {"topic": "refunds/create", "address": hook, "format": "json"}}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(r.status(), StatusCode::CREATED);

    let order_id = sb
        .shopify
        .read(|s| {
            s.orders
                .iter()
                .find(|o| o.financial.captured() && o.refunds.is_empty())
                .map(|o| o.id)
        })
        .expect("a paid order");
    let r = http
        .post(format!(
            "{}/_sandbox/shopify/orders/{order_id}/refund",
            sb.base_url
        ))
        .json(&json!({"full": true}))
        .send()
        .await
        .expect("refund");
    assert_eq!(r.status(), StatusCode::OK);
    // Two failures, then success: three deliveries of the same event.
    wait_for(&got, 3).await;
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 3, "retried until delivered");
    let secret = &sb.credentials.shopify_api_secret;
    for (headers, body) in &got {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            headers["x-shopify-hmac-sha256"].to_str().expect("hmac"),
            expected
        );
        assert_eq!(headers["x-shopify-topic"], "refunds/create");
        assert_eq!(
            headers["x-shopify-shop-domain"],
            "lockstep-sandbox.myshopify.com"
        );
        assert_eq!(headers["x-shopify-api-version"], V);
        for h in [
            "x-shopify-webhook-id",
            "x-shopify-event-id",
            "x-shopify-triggered-at",
        ] {
            assert!(headers.contains_key(h), "{h}");
        }
        let refund: Value = serde_json::from_slice(body).expect("json body");
        assert_eq!(refund["order_id"], order_id);
        assert!(
            refund["refund_line_items"][0]["subtotal"].is_number(),
            "refund line money is a number"
        );
        assert!(
            refund["transactions"][0]["amount"].is_string(),
            "transaction money is a string"
        );
    }
    let event_ids: Vec<_> = got
        .iter()
        .map(|(h, _)| h["x-shopify-event-id"].clone())
        .collect();
    assert!(
        event_ids.windows(2).all(|w| w[0] == w[1]),
        "retries keep the event id"
    );
    // A tampered body no longer verifies.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(b"{}");
    let other = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_ne!(
        got[0].0["x-shopify-hmac-sha256"].to_str().expect("hmac"),
        other
    );

    let d: Value = http
        .get(format!("{}/_sandbox/webhooks/deliveries", sb.base_url))
        .send()
        .await
        .expect("d")
        .json()
        .await
        .expect("json");
    assert_eq!(d["deliveries"][0]["status"], "delivered");
    assert_eq!(d["deliveries"][0]["attempts"], 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn stream_changes_bump_updated_at_and_fire_webhooks() {
    let sb = start(config(20, 60, 8)).await;
    let (hook, got) = receiver(0).await;
    let http = client();
    for topic in [
        "orders/create",
        "customers/create",
        "customers/update",
        "orders/updated",
    ] {
        let r = http
            .post(format!("{}/_sandbox/webhooks", sb.base_url))
            .json(&json!({"topic": topic, "address": hook}))
            .send()
            .await
            .expect("sub");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let before = sb.shopify.read(|s| (s.clock, s.orders.len()));
    let r: Value = http
        .post(format!("{}/_sandbox/shopify/advance", sb.base_url))
        .json(&json!({"events": 40}))
        .send()
        .await
        .expect("advance")
        .json()
        .await
        .expect("json");
    let fired = r["events"].as_u64().expect("events");
    assert!(fired > 0);
    let after = sb.shopify.read(|s| (s.clock, s.orders.len()));
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "{before:?} -> {after:?}"
    );
    // Everything changed since the old clock is visible through updated_at_min.
    let since = chrono::DateTime::from_timestamp(before.0 + 1, 0)
        .expect("ts")
        .to_rfc3339();
    let q = url::form_urlencoded::byte_serialize(since.as_bytes()).collect::<String>();
    let ids = walk(
        &sb,
        &format!("/admin/api/{V}/orders.json?status=any&updated_at_min={q}"),
        "orders",
    )
    .await;
    let want = sb
        .shopify
        .read(|s| s.orders.iter().filter(|o| o.updated_at > before.0).count());
    assert_eq!(ids.len(), want);
    assert!(want > 0);
    wait_for(&got, 1).await;
    assert!(!got.lock().expect("lock").is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_identical_data_and_another_seed_does_not() {
    let a = generator::generate(&GeneratorConfig {
        seed: 9,
        customers: 300,
        orders: 1500,
        ..GeneratorConfig::default()
    });
    let b = generator::generate(&GeneratorConfig {
        seed: 9,
        customers: 300,
        orders: 1500,
        ..GeneratorConfig::default()
    });
    let c = generator::generate(&GeneratorConfig {
        seed: 10,
        customers: 300,
        orders: 1500,
        ..GeneratorConfig::default()
    });
    assert!(a == b, "same seed, same store and CRM seeds");
    assert!(
        a.store.orders != c.store.orders,
        "another seed, another store"
    );

    // Byte-identical over HTTP too.
    let s1 = start(config(50, 200, 9)).await;
    let s2 = start(config(50, 200, 9)).await;
    let url = format!("/admin/api/{V}/orders.json?status=any&limit=250");
    let b1 = get(&s1, &url).await.bytes().await.expect("body");
    let b2 = get(&s2, &url).await.bytes().await.expect("body");
    assert_eq!(b1, b2);

    // The mess is there: guests, aliases, multi-currency, refunds, cancellations, tests.
    let s = &a.store;
    assert!(
        s.orders.iter().any(|o| o.customer_id.is_none()),
        "guest checkouts"
    );
    assert!(
        s.orders
            .iter()
            .any(|o| o.presentment_currency != o.currency),
        "multi-currency"
    );
    assert!(
        s.orders
            .iter()
            .any(|o| o.refunds.len() == 1 && o.financial.as_str() == "partially_refunded")
    );
    assert!(
        s.orders
            .iter()
            .any(|o| o.financial.as_str() == "voided" && o.cancelled_at.is_some())
    );
    assert!(
        s.orders
            .iter()
            .any(|o| o.refunds.iter().any(|r| r.shipping.0 > 0)),
        "shipping refunds"
    );
    assert!(s.orders.iter().any(|o| o.discount.is_some()));
    assert!(
        s.customers
            .iter()
            .any(|c| c.email.as_deref().is_some_and(|e| e.contains('+'))),
        "+tag aliases"
    );
    assert!(s.customers.iter().any(|c| {
        c.email
            .as_deref()
            .is_some_and(|e| e.ends_with("@privaterelay.appleid.com"))
    }));
    assert!(
        !a.contacts.is_empty() && a.contacts.len() < s.customers.len(),
        "CRM has missing contacts"
    );
    s1.shutdown().await;
    s2.shutdown().await;
}

#[tokio::test]
async fn chaos_rates_are_honoured_and_inspectable() {
    let sb = start(config(5, 10, 2)).await;
    let http = client();
    let r = http
        .post(format!("{}/_sandbox/chaos", sb.base_url))
        .json(&json!({"error_503": 0.3, "error_500": 0.2, "seed": 1}))
        .send()
        .await
        .expect("chaos");
    assert_eq!(r.status(), StatusCode::OK);
    let n = 300;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..n {
        let s = get(&sb, &format!("/admin/api/{V}/customers/count.json"))
            .await
            .status()
            .as_u16();
        *seen.entry(s).or_insert(0u64) += 1;
    }
    let (s503, s500, s200) = (
        seen.get(&503).copied().unwrap_or(0),
        seen.get(&500).copied().unwrap_or(0),
        seen.get(&200).copied().unwrap_or(0),
    );
    assert!((60..=120).contains(&s503), "≈30% 503: {seen:?}");
    assert!((35..=85).contains(&s500), "≈20% 500: {seen:?}");
    assert_eq!(s503 + s500 + s200, n);

    let log: Value = http
        .get(format!("{}/_sandbox/requests", sb.base_url))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["total"], n);
    assert_eq!(log["injected"], s503 + s500);
    let count = |status: u64| {
        log["by_endpoint"]
            .as_array()
            .expect("list")
            .iter()
            .find(|e| {
                e["endpoint"] == "/admin/api/{version}/customers/count.json"
                    && e["status"] == status
            })
            .and_then(|e| e["count"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!((count(503), count(500), count(200)), (s503, s500, s200));

    // Token expiry, then all chaos off; admin routes were never affected.
    http.post(format!("{}/_sandbox/chaos", sb.base_url))
        .json(&json!({"token_expired": true}))
        .send()
        .await
        .expect("chaos");
    assert_eq!(
        get(&sb, &format!("/admin/api/{V}/shop.json"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = http
        .post(format!("{}/_sandbox/chaos", sb.base_url))
        .json(&json!({"error_500": 2.0}))
        .send()
        .await
        .expect("chaos");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "invalid rates refused");
    http.delete(format!("{}/_sandbox/chaos", sb.base_url))
        .send()
        .await
        .expect("chaos off");
    assert_eq!(
        get(&sb, &format!("/admin/api/{V}/shop.json"))
            .await
            .status(),
        StatusCode::OK
    );
    http.delete(format!("{}/_sandbox/requests", sb.base_url))
        .send()
        .await
        .expect("reset");
    let log: Value = http
        .get(format!("{}/_sandbox/requests", sb.base_url))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["total"], 0);
    sb.shutdown().await;
}

async fn deliveries(sb: &SandboxHandle) -> Vec<Value> {
    let v: Value = client()
        .get(format!("{}/_sandbox/webhooks/deliveries", sb.base_url))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    v["deliveries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn webhook_chaos_drops_duplicates_and_retries_are_bounded() {
    let sb = start(config(10, 30, 6)).await;
    let http = client();
    let (hook, got) = receiver(0).await;
    let sub = json!({"topic": "customers/update", "address": hook});
    let r = http
        .post(format!("{}/_sandbox/webhooks", sb.base_url))
        .json(&sub)
        .send()
        .await
        .expect("sub");
    assert_eq!(r.status(), StatusCode::CREATED);
    let ids: Vec<u64> = sb
        .shopify
        .read(|s| s.customers.iter().take(3).map(|c| c.id).collect());
    let edit = |id: u64| {
        http.post(format!("{}/_sandbox/shopify/customers/{id}", sb.base_url))
            .json(&json!({"note": "edited"}))
            .send()
    };

    // Every delivery duplicated: two arrivals per event, same event id.
    let chaos = |body: Value| {
        http.post(format!("{}/_sandbox/chaos", sb.base_url))
            .json(&body)
            .send()
    };
    chaos(json!({"webhook_duplicate": 1.0}))
        .await
        .expect("chaos");
    edit(ids[0]).await.expect("edit");
    wait_for(&got, 2).await;
    {
        let g = got.lock().expect("lock");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0["x-shopify-event-id"], g[1].0["x-shopify-event-id"]);
    }

    // Every delivery dropped: nothing arrives, the log says so.
    chaos(json!({"webhook_drop": 1.0})).await.expect("chaos");
    edit(ids[1]).await.expect("edit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        got.lock().expect("lock").len(),
        2,
        "dropped deliveries never arrive"
    );
    let d = deliveries(&sb).await;
    assert_eq!(d.iter().filter(|x| x["status"] == "dropped").count(), 1);

    // Reordered: the second event overtakes the first.
    chaos(json!({"webhook_reorder": 1.0})).await.expect("chaos");
    edit(ids[0]).await.expect("edit");
    edit(ids[1]).await.expect("edit");
    wait_for(&got, 4).await;
    {
        let g = got.lock().expect("lock");
        assert_eq!(g.len(), 4);
        let customer =
            |i: usize| serde_json::from_slice::<Value>(&g[i].1).expect("json")["id"].as_u64();
        assert_eq!(
            (customer(2), customer(3)),
            (Some(ids[1]), Some(ids[0])),
            "out of order"
        );
    }

    // A receiver that always fails gets exactly 8 tries.
    chaos(json!({})).await.expect("chaos off");
    let (bad_hook, bad) = receiver(usize::MAX).await;
    let sub = json!({"topic": "customers/update", "address": bad_hook});
    http.post(format!("{}/_sandbox/webhooks", sb.base_url))
        .json(&sub)
        .send()
        .await
        .expect("sub");
    edit(ids[2]).await.expect("edit");
    wait_for(&bad, 8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bad.lock().expect("lock").len(), 8, "8 tries, no more");
    let d = deliveries(&sb).await;
    let failed: Vec<&Value> = d.iter().filter(|x| x["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["attempts"], 8);
    assert_eq!(failed[0]["last_status"], 500);
    sb.shutdown().await;
}

#[tokio::test]
async fn chaos_timeouts_hang_past_the_client_timeout_and_latency_is_added() {
    let sb = start(config(5, 10, 2)).await;
    let http = client();
    let chaos = |body: Value| {
        http.post(format!("{}/_sandbox/chaos", sb.base_url))
            .json(&body)
            .send()
    };
    chaos(json!({"timeout_rate": 1.0, "timeout_secs": 1.0}))
        .await
        .expect("chaos");
    let url = format!("{}/admin/api/{V}/shop.json", sb.base_url);
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let r = short
        .get(&url)
        .header(
            "X-Shopify-Access-Token",
            &sb.credentials.shopify_access_token,
        )
        .send()
        .await;
    assert!(
        r.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the client times out: {r:?}"
    );

    chaos(json!({"latency_ms": 400})).await.expect("chaos");
    let t = Instant::now();
    assert_eq!(get(&sb, &url).await.status(), StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(400));
    // Admin routes are never slowed or failed.
    let t = Instant::now();
    let s = http
        .get(format!("{}/_sandbox/state", sb.base_url))
        .send()
        .await
        .expect("state");
    assert_eq!(s.status(), StatusCode::OK);
    assert!(t.elapsed() < Duration::from_millis(300));
    let state: Value = s.json().await.expect("json");
    assert_eq!(state["shopify"]["orders"], 10);
    assert!(
        state["hubspot"].is_object() && state["klaviyo"].is_object(),
        "{state}"
    );
    // The CRMs start from the generator's seeds and share the port.
    let contacts = state["hubspot"]["contacts"].as_array().map_or(0, Vec::len);
    assert!(sb.seed_contacts > 0);
    assert_eq!(contacts, sb.seed_contacts);
    http.delete(format!("{}/_sandbox/chaos", sb.base_url))
        .send()
        .await
        .expect("chaos off");
    let r = http
        .get(format!("{}/crm/v3/objects/contacts?limit=100", sb.base_url))
        .bearer_auth(&sb.credentials.hubspot_token)
        .send()
        .await
        .expect("hubspot");
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = r.json().await.expect("json");
    assert_eq!(
        listed["results"].as_array().map_or(0, Vec::len),
        sb.seed_contacts
    );
    sb.shutdown().await;
}
