//! HubSpot emulator over real HTTP with a plain client: pagination, batch upsert
//! (200/207/400), property validation, search, the ten-second limit, v3 webhook
//! signatures (checked with an independent HMAC) and auth.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use lockstep::sandbox::hubspot::{HubSpot, HubSpotOptions};
use lockstep::sandbox::seed::SeedContact;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support;
use sha2::Sha256;

const TOKEN: &str = "sandbox-hubspot-token";

fn seed(n: usize) -> Vec<SeedContact> {
    (0..n)
        .map(|i| SeedContact {
            properties: BTreeMap::from([
                ("email".to_string(), format!("person{i}@example.com")),
                ("firstname".to_string(), format!("P{i}")),
                ("lockstep_golden_id".to_string(), format!("g{i}")),
                (
                    "lastmodifieddate".to_string(),
                    "2024-01-01T00:00:00.000Z".to_string(),
                ),
            ]),
        })
        .collect()
}

async fn start(opts: HubSpotOptions, n: usize) -> (String, reqwest::Client) {
    let hs = HubSpot::new(opts, seed(n));
    (support::serve(hs.router()).await, reqwest::Client::new())
}

fn no_limit() -> HubSpotOptions {
    HubSpotOptions {
        requests_per_10s: 0,
        ..HubSpotOptions::default()
    }
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let r = c
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn list_pagination_walks_every_contact_exactly_once() {
    let (base, c) = start(no_limit(), 23).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let mut url =
            format!("{base}/crm/v3/objects/contacts?limit=5&properties=email,total_spent");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let v: Value = c
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in v["results"].as_array().unwrap() {
            assert!(r["properties"]["email"].is_string());
            assert!(
                r["properties"]["total_spent"].is_null(),
                "requested but unset → null"
            );
            seen.push(r["id"].as_str().unwrap().to_string());
        }
        match v["paging"]["next"]["after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 23);
    assert_eq!(unique.len(), 23);
    let r = c
        .get(format!("{base}/crm/v3/objects/contacts?limit=101"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The date-versioned path serves the same data, and its next link stays on it.
    let v: Value = c
        .get(format!("{base}/crm/objects/2026-03/contacts?limit=2"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = v["paging"]["next"]["link"].as_str().unwrap();
    assert!(
        link.contains("/crm/objects/2026-03/contacts?") && link.contains("after=3"),
        "{link}"
    );
    // Read by unique property.
    let v: Value = c
        .get(format!(
            "{base}/crm/v3/objects/contacts/PERSON3@example.com?idProperty=email"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["properties"]["firstname"], "P3");
}

#[tokio::test]
async fn batch_upsert_creates_and_updates_with_new_flags() {
    let (base, c) = start(no_limit(), 2).await;
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/upsert"),
        json!({"inputs": [
            {"idProperty": "lockstep_golden_id", "id": "g1", "properties": {"total_spent": "12.50", "orders_count": 2}},
            {"idProperty": "lockstep_golden_id", "id": "g-new", "properties": {"email": "new@example.com", "last_order_date": "2024-05-01"}},
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "COMPLETE");
    assert!(v["startedAt"].is_string() && v["completedAt"].is_string());
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let by_new: BTreeMap<bool, &Value> = results
        .iter()
        .map(|r| (r["new"].as_bool().unwrap(), r))
        .collect();
    assert_eq!(by_new[&false]["properties"]["total_spent"], "12.50");
    assert_eq!(
        by_new[&false]["properties"]["orders_count"], "2",
        "values are strings on the wire"
    );
    assert_eq!(by_new[&true]["properties"]["lockstep_golden_id"], "g-new");
    assert_eq!(by_new[&true]["properties"]["last_order_date"], "2024-05-01");

    // Upsert by email (case-insensitive match) updates the seeded contact.
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/upsert"),
        json!({"inputs": [{"idProperty": "email", "id": "Person0@Example.com", "properties": {"primary_tag": "vip"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["new"], false);
    assert_eq!(v["results"][0]["id"], "1");
}

#[tokio::test]
async fn batch_upsert_partial_failure_is_207_and_applies_the_rest() {
    let (base, c) = start(no_limit(), 3).await;
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/upsert"),
        json!({"inputs": [
            {"idProperty": "lockstep_golden_id", "id": "g0", "properties": {"primary_tag": "a"}},
            {"idProperty": "lockstep_golden_id", "id": "g1", "properties": {"no_such_prop": "x"}},
            {"idProperty": "lockstep_golden_id", "id": "g2", "properties": {"total_spent": "not a number"}},
            {"idProperty": "lockstep_golden_id", "id": "g9", "properties": {"primary_tag": "c"}},
        ]}),
    )
    .await;
    assert_eq!(status, 207, "{v}");
    assert_eq!(v["numErrors"], 2);
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let errors = v["errors"].as_array().unwrap();
    let e1 = errors
        .iter()
        .find(|e| e["id"] == "g1")
        .expect("error names input g1");
    assert_eq!(e1["status"], "error");
    assert_eq!(e1["category"], "VALIDATION_ERROR");
    assert!(
        e1["message"]
            .as_str()
            .unwrap()
            .contains("PROPERTY_DOESNT_EXIST")
    );
    assert_eq!(e1["context"]["ids"], json!(["g1"]));
    let e2 = errors
        .iter()
        .find(|e| e["id"] == "g2")
        .expect("error names input g2");
    assert!(
        e2["message"]
            .as_str()
            .unwrap()
            .contains("not a valid number")
    );

    let read = |ids: Vec<&str>| json!({"idProperty": "lockstep_golden_id", "properties": ["primary_tag"], "inputs": ids.into_iter().map(|i| json!({"id": i})).collect::<Vec<_>>()});
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/read"),
        read(vec!["g0", "g9", "nope"]),
    )
    .await;
    assert_eq!(
        status, 207,
        "missing id in batch read is a per-item error: {v}"
    );
    let tags: BTreeSet<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["primary_tag"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, BTreeSet::from(["a".to_string(), "c".to_string()]));
    assert_eq!(v["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(v["errors"][0]["context"]["ids"], json!(["nope"]));

    // Update of a missing record id is a per-item error too.
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/update"),
        json!({"inputs": [{"id": "1", "properties": {"firstname": "Z"}}, {"id": "999", "properties": {"firstname": "Y"}}]}),
    )
    .await;
    assert_eq!(status, 207, "{v}");
    assert_eq!(v["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(v["errors"][0]["id"], "999");
}

#[tokio::test]
async fn email_upsert_batches_are_all_or_nothing() {
    let (base, c) = start(no_limit(), 1).await;
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/upsert"),
        json!({"inputs": [
            {"idProperty": "email", "id": "fresh@example.com", "properties": {"firstname": "F"}},
            {"idProperty": "email", "id": "not-an-email", "properties": {"firstname": "G"}},
        ]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["category"], "VALIDATION_ERROR");
    assert_eq!(v["context"]["ids"], json!(["not-an-email"]));
    let r = c
        .get(format!(
            "{base}/crm/v3/objects/contacts/fresh@example.com?idProperty=email"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing from the failed batch was written");
}

#[tokio::test]
async fn batch_limits_duplicates_and_conflicts() {
    let (base, c) = start(no_limit(), 1).await;
    let inputs: Vec<Value> = (0..101)
        .map(|i| json!({"idProperty": "lockstep_golden_id", "id": format!("x{i}"), "properties": {}}))
        .collect();
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/upsert"),
        json!({"inputs": inputs}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["category"], "VALIDATION_ERROR");
    assert!(v["correlationId"].as_str().unwrap().len() == 36);

    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/update"),
        json!({"inputs": [{"id": "1", "properties": {}}, {"id": "1", "properties": {}}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Duplicate IDs found in batch input")
    );

    // Create of an existing email: whole-batch 409 without trace ids...
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/create"),
        json!({"inputs": [{"properties": {"email": "PERSON0@example.com"}}, {"properties": {"email": "b@example.com"}}]}),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["category"], "CONFLICT");
    assert_eq!(v["message"], "Contact already exists. Existing ID: 1");
    // ...and a per-item error when every input has an objectWriteTraceId.
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/create"),
        json!({"inputs": [
            {"objectWriteTraceId": "t1", "properties": {"email": "person0@example.com"}},
            {"objectWriteTraceId": "t2", "properties": {"email": "b@example.com"}},
        ]}),
    )
    .await;
    assert_eq!(status, 207, "{v}");
    assert_eq!(v["errors"][0]["category"], "CONFLICT");
    assert_eq!(v["errors"][0]["id"], "t1");
    assert_eq!(v["results"][0]["properties"]["email"], "b@example.com");
}

#[tokio::test]
async fn writing_a_nonexistent_property_is_a_validation_error() {
    let (base, c) = start(no_limit(), 0).await;
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts"),
        json!({"properties": {"email": "a@example.com", "favourite_colour": "blue"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["status"], "error");
    assert_eq!(v["category"], "VALIDATION_ERROR");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.starts_with("Property values were not valid"), "{msg}");
    assert!(
        msg.contains("PROPERTY_DOESNT_EXIST") && msg.contains("favourite_colour"),
        "{msg}"
    );
    assert_eq!(v["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");

    // After creating the property the same write succeeds.
    let (status, _) = post(
        &c,
        format!("{base}/crm/v3/properties/contacts"),
        json!({"name": "favourite_colour", "label": "Colour", "type": "string", "fieldType": "text", "groupName": "contactinformation"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts"),
        json!({"properties": {"email": "a@example.com", "favourite_colour": "blue"}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["properties"]["favourite_colour"], "blue");
    let props: Value = c
        .get(format!("{base}/crm/v3/properties/contacts"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = props["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for n in [
        "email",
        "lifecyclestage",
        "total_spent",
        "lockstep_golden_id",
        "favourite_colour",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

#[tokio::test]
async fn search_by_lastmodifieddate_and_its_limits() {
    let (base, c) = start(no_limit(), 12).await;
    let since = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, _) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/batch/update"),
        json!({"inputs": [{"id": "3", "properties": {"primary_tag": "x"}}, {"id": "7", "properties": {"primary_tag": "y"}}]}),
    )
    .await;
    assert_eq!(status, 200);
    let search = |body: Value| post(&c, format!("{base}/crm/v3/objects/contacts/search"), body);
    let (status, v) = search(json!({
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": since.to_string()}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["primary_tag"],
        "limit": 1,
    }))
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 2);
    assert_eq!(v["results"][0]["id"], "3");
    assert_eq!(v["results"][0]["properties"]["primary_tag"], "x");
    assert_eq!(v["paging"]["next"]["after"], "1");

    let (_, v) = search(json!({"filterGroups": [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": "PERSON1@example.com"}]},
        {"filters": [{"propertyName": "firstname", "operator": "IN", "values": ["p2", "P4"]}]},
    ]}))
    .await;
    assert_eq!(
        v["total"], 3,
        "OR of groups, case-insensitive string match: {v}"
    );

    let filters: Vec<Value> = (0..11)
        .map(|_| json!({"propertyName": "email", "operator": "HAS_PROPERTY"}))
        .collect();
    let (status, _) = search(json!({"filterGroups": [{"filters": filters}]})).await;
    assert_eq!(status, 400, "11 filters in one group");
    let groups: Vec<Value> = (0..3)
        .map(|_| json!({"filters": (0..9).map(|_| json!({"propertyName": "email", "operator": "HAS_PROPERTY"})).collect::<Vec<_>>()}))
        .collect();
    let (status, _) = search(json!({"filterGroups": groups})).await;
    assert_eq!(status, 400, "27 filters in total");
    let (status, _) = search(json!({"limit": 201})).await;
    assert_eq!(status, 400);
    let (status, v) = search(json!({"after": "10000"})).await;
    assert_eq!(status, 400, "paging past 10,000 results: {v}");
}

#[tokio::test]
async fn ten_second_limit_answers_429_exactly_when_exceeded() {
    let opts = HubSpotOptions {
        requests_per_10s: 4,
        ..HubSpotOptions::default()
    };
    let (base, c) = start(opts, 1).await;
    let url = format!("{base}/crm/v3/objects/contacts");
    for expected_remaining in (0..4).rev() {
        let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["X-HubSpot-RateLimit-Interval-Milliseconds"], "10000");
        assert_eq!(h["X-HubSpot-RateLimit-Max"], "4");
        assert_eq!(
            h["X-HubSpot-RateLimit-Remaining"],
            expected_remaining.to_string().as_str()
        );
        assert!(h.contains_key("X-HubSpot-RateLimit-Daily-Remaining"));
    }
    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(
        v["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert_eq!(v["errorType"], "RATE_LIMIT");
    assert_eq!(v["policyName"], "TEN_SECONDLY_ROLLING");
    assert!(uuid::Uuid::parse_str(v["correlationId"].as_str().unwrap()).is_ok());
    // Unauthenticated requests are refused before they can count.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let (base, c) = start(HubSpotOptions::default(), 1).await;
    for auth in [None, Some("Bearer wrong"), Some("sandbox-hubspot-token")] {
        let mut req = c.get(format!("{base}/crm/v3/objects/contacts"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["category"], "INVALID_AUTHENTICATION");
        assert!(uuid::Uuid::parse_str(v["correlationId"].as_str().unwrap()).is_ok());
    }
}

#[tokio::test]
async fn crm_edit_sends_a_v3_signed_property_change_webhook() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(axum::http::HeaderMap, String, String)>(4);
    let receiver = axum::Router::new().route(
        "/hooks/hubspot",
        axum::routing::post(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((headers, uri.to_string(), body)).await;
                    StatusCode::OK
                }
            },
        ),
    );
    let hook_base = support::serve(receiver).await;
    let hook_url = format!("{hook_base}/hooks/hubspot?portal=1");
    let opts = HubSpotOptions {
        webhook_url: Some(hook_url.clone()),
        client_secret: "shh-secret".into(),
        ..HubSpotOptions::default()
    };
    let (base, c) = start(opts, 2).await;
    let before = chrono::Utc::now().timestamp_millis();
    let (status, v) = post(
        &c,
        format!("{base}/_sandbox/hubspot/contacts/2/edit"),
        json!({"properties": {"lifecyclestage": "customer", "firstname": "P1"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (headers, _, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("webhook within 5 s")
        .expect("channel open");
    let ts = headers["X-HubSpot-Request-Timestamp"].to_str().unwrap();
    let ts_ms: i64 = ts.parse().unwrap();
    assert!(
        ts_ms >= before && ts_ms - before < 60_000,
        "timestamp is Unix ms"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(b"shh-secret").unwrap();
    mac.update(format!("POST{hook_url}{body}{ts}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        headers["X-HubSpot-Signature-v3"].to_str().unwrap(),
        expected
    );

    let events: Value = serde_json::from_str(&body).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(
        events.len(),
        1,
        "only the changed property is notified: {events:?}"
    );
    assert_eq!(events[0]["subscriptionType"], "contact.propertyChange");
    assert_eq!(events[0]["objectId"], 2);
    assert_eq!(events[0]["propertyName"], "lifecyclestage");
    assert_eq!(events[0]["propertyValue"], "customer");

    // The edit bumped lastmodifieddate, so an incremental search finds it.
    let (_, v) = post(
        &c,
        format!("{base}/crm/v3/objects/contacts/search"),
        json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": before.to_string()}]}]}),
    )
    .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["results"][0]["id"], "2");
}
