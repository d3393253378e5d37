//! The protocol around every call: revision and auth, throttling with the real
//! 429 body, and JSON:API content negotiation.

use super::*;

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
