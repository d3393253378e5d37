//! Klaviyo emulator over real HTTP with a plain client: revision and auth,
//! profile-import 201/200 and patch semantics, validation errors, event dedupe,
//! bulk import jobs, cursor pagination with filters, and throttling.

use std::collections::BTreeSet;
use std::time::Duration;

use lockstep::sandbox::klaviyo::{Klaviyo, KlaviyoOptions};
use lockstep::sandbox::seed::SeedProfile;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "pk_sandbox_klaviyo_key";
const REVISION: &str = "2024-10-15";

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

struct Api {
    base: String,
    c: reqwest::Client,
}

impl Api {
    async fn start(opts: KlaviyoOptions, seed: Vec<SeedProfile>) -> Self {
        let k = Klaviyo::new(opts, seed);
        Self {
            base: serve(k.router()).await,
            c: reqwest::Client::new(),
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
            .header("revision", REVISION)
            .header("Accept", "application/vnd.api+json")
    }

    fn absolute(&self, url: &str) -> reqwest::RequestBuilder {
        self.c
            .get(url)
            .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
            .header("revision", REVISION)
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = rb.send().await.expect("send");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let rb = self
            .req(Method::POST, path)
            .header("Content-Type", "application/vnd.api+json")
            .body(body.to_string());
        let (s, _, v) = self.send(rb).await;
        (s, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.send(self.req(Method::GET, path)).await;
        (s, v)
    }
}

fn no_limits() -> KlaviyoOptions {
    KlaviyoOptions {
        burst_scale: 0.0,
        steady_scale: 0.0,
        bulk_job_step_ms: 20,
        ..KlaviyoOptions::default()
    }
}

fn profile(attrs: Value) -> Value {
    json!({"data": {"type": "profile", "attributes": attrs}})
}

fn seed(n: usize) -> Vec<SeedProfile> {
    (0..n)
        .map(|i| SeedProfile {
            email: Some(format!("seed{i}@example.com")),
            first_name: Some(format!("S{i}")),
            ..SeedProfile::default()
        })
        .collect()
}

#[tokio::test]
async fn missing_revision_is_a_400_naming_the_header() {
    let api = Api::start(no_limits(), seed(1)).await;
    let r = api
        .c
        .get(format!("{}/api/profiles", api.base))
        .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/vnd.api+json");
    let v: Value = r.json().await.unwrap();
    let e = &v["errors"][0];
    assert_eq!(e["status"], 400);
    assert_eq!(e["code"], "invalid");
    assert_eq!(e["source"]["parameter"], "revision");
    assert!(e["detail"].as_str().unwrap().contains("revision"));
    assert!(e["id"].is_string() && e["title"].is_string());
    // A malformed revision (one header only: `req` would add a second).
    let bad = api
        .c
        .get(format!("{}/api/profiles", api.base))
        .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
        .header("revision", "2024/10/15");
    let (status, _, v) = api.send(bad).await;
    assert_eq!(v["errors"][0]["source"]["parameter"], "revision");
    assert_eq!(status, 400, "malformed revision");
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401() {
    let api = Api::start(no_limits(), seed(1)).await;
    let r = api
        .c
        .get(format!("{}/api/profiles", api.base))
        .header("revision", REVISION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "not_authenticated");
    let r = api
        .c
        .get(format!("{}/api/profiles", api.base))
        .header("revision", REVISION)
        .header("Authorization", "Klaviyo-API-Key pk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "authentication_failed");
}

#[tokio::test]
async fn profile_import_creates_then_updates_and_patches_fields() {
    let api = Api::start(no_limits(), vec![]).await;
    let (status, v) = api
        .post(
            "/api/profile-import",
            profile(
                json!({"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                           "properties": {"ltv": 10, "tier": "gold"}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["type"], "profile");
    assert_eq!(id.len(), 26);

    // Same email (different case, trailing slash path): update; null clears,
    // absent keeps, properties patch key by key.
    let (status, v) = api
        .post(
            "/api/profile-import/",
            profile(json!({"email": "ADA@example.com", "first_name": null, "properties": {"ltv": null, "orders": 3}})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let a = &v["data"]["attributes"];
    assert_eq!(v["data"]["id"], id.as_str());
    assert!(a["first_name"].is_null(), "null clears");
    assert_eq!(a["last_name"], "Lovelace", "absent keeps");
    assert_eq!(a["properties"], json!({"tier": "gold", "orders": 3}));

    let (status, v) = api.get(&format!("/api/profiles/{id}/")).await;
    assert_eq!(status, 200);
    assert_eq!(v["data"]["attributes"]["email"], "ada@example.com");

    // Validation errors carry a JSON pointer.
    let (status, v) = api
        .post(
            "/api/profile-import",
            profile(json!({"email": "not-an-email"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["errors"][0]["source"]["pointer"],
        "/data/attributes/email"
    );
    let (status, v) = api
        .post(
            "/api/profile-import",
            profile(json!({"first_name": "NoId"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["source"]["pointer"], "/data/attributes");
    let (status, v) = api
        .post(
            "/api/profile-import",
            profile(json!({"phone_number": "5551234"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["errors"][0]["source"]["pointer"],
        "/data/attributes/phone_number"
    );
    // An identifier owned by another profile is a conflict.
    api.post(
        "/api/profile-import",
        profile(json!({"email": "b@example.com", "external_id": "x1"})),
    )
    .await;
    let (status, v) = api
        .post(
            "/api/profile-import",
            profile(json!({"email": "ada@example.com", "external_id": "x1"})),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["errors"][0]["code"], "duplicate_profile");
}

fn event(email: &str, metric: &str, unique_id: Option<&str>, time: &str) -> Value {
    let mut attrs = json!({
        "properties": {"order_id": "1001"},
        "time": time,
        "value": 42.5,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
    });
    if let Some(u) = unique_id {
        attrs["unique_id"] = json!(u);
    }
    json!({"data": {"type": "event", "attributes": attrs}})
}

#[tokio::test]
async fn events_are_deduplicated_on_unique_id_and_validated() {
    let api = Api::start(no_limits(), vec![]).await;
    let t = "2024-06-01T12:00:00Z";
    for _ in 0..2 {
        let (status, v) = api
            .post(
                "/api/events",
                event("e@example.com", "Placed Order", Some("order-1001"), t),
            )
            .await;
        assert_eq!(status, 202, "{v}");
    }
    let (_, v) = api.get("/api/events").await;
    assert_eq!(
        v["data"].as_array().unwrap().len(),
        1,
        "duplicate unique_id recorded once: {v}"
    );
    assert_eq!(
        v["data"][0]["attributes"]["event_properties"]["$value"],
        42.5
    );

    // Different unique_id, same second: recorded. No unique_id: one per second.
    api.post(
        "/api/events",
        event("e@example.com", "Placed Order", Some("order-1002"), t),
    )
    .await;
    api.post("/api/events", event("e@example.com", "Viewed", None, t))
        .await;
    let (status, _) = api
        .post(
            "/api/events",
            event("e@example.com", "Viewed", None, "2024-06-01T12:00:00.700Z"),
        )
        .await;
    assert_eq!(status, 202);
    let (_, v) = api.get("/api/events").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    // The event created the profile.
    let (_, v) = api
        .get("/api/profiles?filter=equals(email,\"e@example.com\")")
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    let long = "m".repeat(128);
    let (status, v) = api
        .post("/api/events", event("e@example.com", &long, None, t))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["errors"][0]["source"]["pointer"],
        "/data/attributes/metric/data/attributes/name"
    );
    let (status, _) = api
        .post(
            "/api/events",
            event("e@example.com", "X", None, "1989-12-31T00:00:00Z"),
        )
        .await;
    assert_eq!(status, 400);
    let future = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let (status, v) = api
        .post("/api/events", event("e@example.com", "X", None, &future))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["source"]["pointer"], "/data/attributes/time");
}

#[tokio::test]
async fn bulk_import_job_completes_and_profiles_exist() {
    let api = Api::start(no_limits(), seed(1)).await;
    let mut profiles: Vec<Value> = (0..120)
        .map(|i| json!({"type": "profile", "attributes": {"email": format!("bulk{i}@example.com"), "properties": {"n": i}}}))
        .collect();
    profiles.push(json!({"type": "profile", "attributes": {"email": "broken"}}));
    profiles.push(json!({"type": "profile", "attributes": {"email": "seed0@example.com", "last_name": "Seeded"}}));
    let body = json!({"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}});
    let (status, v) = api.post("/api/profile-bulk-import-jobs", body).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["data"]["attributes"]["status"], "queued");
    assert_eq!(v["data"]["attributes"]["total_count"], 122);
    let id = v["data"]["id"].as_str().unwrap().to_string();

    let mut seen = BTreeSet::new();
    let mut last = Value::Null;
    for _ in 0..200 {
        let (_, v) = api
            .get(&format!("/api/profile-bulk-import-jobs/{id}"))
            .await;
        let status = v["data"]["attributes"]["status"]
            .as_str()
            .unwrap()
            .to_string();
        seen.insert(status.clone());
        last = v;
        if status == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(seen.contains("complete"), "job finished: {last}");
    assert!(
        seen.contains("processing") || seen.contains("queued"),
        "{seen:?}"
    );
    let a = &last["data"]["attributes"];
    assert_eq!(a["completed_count"], 121);
    assert_eq!(a["failed_count"], 1);
    assert!(a["completed_at"].is_string() && a["started_at"].is_string());

    let (status, v) = api
        .get(&format!("/api/profile-bulk-import-jobs/{id}/import-errors"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["data"][0]["attributes"]["source"]["pointer"],
        "/data/attributes/email"
    );

    let (_, v) = api
        .get("/api/profiles?filter=any(email,[\"bulk7@example.com\",\"seed0@example.com\"])")
        .await;
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let seed0 = data
        .iter()
        .find(|p| p["attributes"]["email"] == "seed0@example.com")
        .unwrap();
    assert_eq!(seed0["attributes"]["last_name"], "Seeded");
    assert_eq!(
        seed0["attributes"]["first_name"], "S0",
        "bulk import patches, it does not replace"
    );

    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"type": "profile", "attributes": {"external_id": format!("x{i}")}}))
        .collect();
    let body = json!({"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": too_many}}}});
    let (status, _) = api.post("/api/profile-bulk-import-jobs", body).await;
    assert_eq!(status, 400);
}

/// Each profile's `updated` attribute, as epoch microseconds.
fn updated_times(profiles: &[Value]) -> Vec<i64> {
    profiles
        .iter()
        .map(|p| {
            let text = p["attributes"]["updated"].as_str().unwrap();
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_micros()
        })
        .collect()
}

/// Every profile `GET /api/profiles?page[size]=10&{params}` pages through, following
/// `links.next` (each page at most 10, each link keeping the page size).
async fn walk(api: &Api, params: &str) -> Vec<Value> {
    let mut profiles = Vec::new();
    let mut next = Some(format!("{}/api/profiles?page[size]=10&{params}", api.base));
    for _ in 0..10 {
        let Some(url) = next.take() else { break };
        let (status, _, v) = api.send(api.absolute(&url)).await;
        assert_eq!(status, 200, "{v}");
        let page = v["data"].as_array().unwrap();
        assert!(page.len() <= 10);
        profiles.extend(page.iter().cloned());
        next = v["links"]["next"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(
                n.contains("page%5Bcursor%5D=") && n.contains("page%5Bsize%5D=10"),
                "{n}"
            );
        }
    }
    assert!(next.is_none(), "more than 10 pages");
    profiles
}

#[tokio::test]
async fn profiles_cursor_pagination_and_updated_filter() {
    let api = Api::start(no_limits(), seed(45)).await;
    let ids: Vec<String> = walk(&api, "sort=email")
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 45);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 45);

    // Newest first: the cursor carries the instant (ties fall to the id).
    let newest_first = walk(&api, "sort=-updated").await;
    let updated = updated_times(&newest_first);
    assert!(updated.windows(2).all(|w| w[0] >= w[1]), "{updated:?}");
    let again: BTreeSet<&str> = newest_first
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(again.len(), 45, "each profile once");
    assert_eq!(again, ids.iter().map(String::as_str).collect());

    let (status, v) = api.get("/api/profiles?page[size]=101").await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["source"]["parameter"], "page[size]");

    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for email in ["seed3@example.com", "seed30@example.com"] {
        let (status, _) = api
            .post(
                "/api/profile-import",
                profile(json!({"email": email, "title": "VIP"})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, v) = api
        .get(&format!(
            "/api/profiles?filter=greater-than(updated,{since})"
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    let emails: BTreeSet<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["attributes"]["email"].as_str())
        .collect();
    assert_eq!(
        emails,
        BTreeSet::from(["seed3@example.com", "seed30@example.com"])
    );
    let (status, v) = api
        .get("/api/profiles?filter=greater-or-equal(updated,2024-01-01T00:00:00Z)")
        .await;
    assert_eq!(status, 400, "operator not allowed on updated: {v}");
    assert_eq!(v["errors"][0]["source"]["parameter"], "filter");

    // Oldest first, the incremental extractors' order, across five pages: each
    // profile once, in order, the two just rewritten moved to the end.
    let oldest_first = walk(&api, "sort=updated").await;
    let updated = updated_times(&oldest_first);
    assert!(updated.windows(2).all(|w| w[0] <= w[1]), "{updated:?}");
    let seen: BTreeSet<&str> = oldest_first
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ids.iter().map(String::as_str).collect());
    assert_eq!(oldest_first.len(), 45);
    let last_two: Vec<&str> = oldest_first[43..]
        .iter()
        .map(|p| p["attributes"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(last_two, ["seed3@example.com", "seed30@example.com"]);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_the_real_body() {
    // Burst of profile-import scaled to 1 per second, steady off.
    let opts = KlaviyoOptions {
        burst_scale: 1.0 / 75.0,
        steady_scale: 0.0,
        ..no_limits()
    };
    let api = Api::start(opts, vec![]).await;
    let body = || profile(json!({"email": "t@example.com"}));
    let rb = |b: Value| {
        api.req(Method::POST, "/api/profile-import")
            .header("Content-Type", "application/vnd.api+json")
            .body(b.to_string())
    };
    // Start right after a window boundary so both requests land in one window.
    let (status, headers, _) = api.send(rb(body())).await;
    assert!(status.is_success());
    assert_eq!(headers["RateLimit-Limit"], "1");
    assert_eq!(headers["RateLimit-Remaining"], "0");
    let (status, headers, v) = api.send(rb(body())).await;
    if status == 429 {
        assert_eq!(headers["Retry-After"], "1");
        let e = &v["errors"][0];
        assert_eq!(e["status"], 429);
        assert_eq!(e["code"], "throttled");
        assert_eq!(e["title"], "Request was throttled.");
        assert_eq!(
            e["detail"],
            "Request was throttled. Expected available in 1 second."
        );
        tokio::time::sleep(Duration::from_millis(1050)).await;
        let (status, _, _) = api.send(rb(body())).await;
        assert!(status.is_success(), "burst window reopened");
    } else {
        // The 1 s window rolled over between the two requests; the steady test
        // below still proves throttling deterministically.
        assert!(status.is_success());
    }

    // Steady window of GET profiles scaled to 2 per minute: the third is refused
    // with a Retry-After pointing at the minute boundary.
    let opts = KlaviyoOptions {
        burst_scale: 0.0,
        steady_scale: 2.0 / 700.0,
        ..no_limits()
    };
    let api = Api::start(opts, vec![]).await;
    for remaining in ["1", "0"] {
        let (status, headers, _) = api.send(api.req(Method::GET, "/api/profiles")).await;
        assert_eq!(status, 200);
        assert_eq!(headers["RateLimit-Limit"], "2");
        assert_eq!(headers["RateLimit-Remaining"], remaining);
        let reset: u64 = headers["RateLimit-Reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&reset));
    }
    let (status, headers, v) = api.send(api.req(Method::GET, "/api/profiles")).await;
    assert_eq!(status, 429);
    let wait: u64 = headers["Retry-After"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    let unit = if wait == 1 { "second" } else { "seconds" };
    assert_eq!(
        v["errors"][0]["detail"],
        format!("Request was throttled. Expected available in {wait} {unit}.")
    );
    assert!(!headers.contains_key("RateLimit-Remaining"));
    // Other endpoints have their own windows.
    let (status, _, _) = api.send(api.req(Method::GET, "/api/events")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn content_negotiation_follows_json_api() {
    let api = Api::start(no_limits(), vec![]).await;
    let rb = api
        .req(Method::POST, "/api/profile-import")
        .header("Content-Type", "text/plain")
        .body(profile(json!({"email": "a@example.com"})).to_string());
    let (status, _, v) = api.send(rb).await;
    assert_eq!(status, 415);
    assert_eq!(v["errors"][0]["code"], "unsupported_media_type");
    let rb = api
        .c
        .get(format!("{}/api/profiles", api.base))
        .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
        .header("revision", REVISION)
        .header("Accept", "text/html");
    let (status, _, _) = api.send(rb).await;
    assert_eq!(status, 406);
    // Malformed JSON is a JSON:API 400, not a framework rejection.
    let rb = api
        .req(Method::POST, "/api/events")
        .header("Content-Type", "application/vnd.api+json")
        .body("{not json");
    let (status, headers, v) = api.send(rb).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/vnd.api+json");
    assert_eq!(v["errors"][0]["code"], "invalid");
}
