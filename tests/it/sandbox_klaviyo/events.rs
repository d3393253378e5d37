//! Events: deduplicated on unique_id, and validated.

use super::*;

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
