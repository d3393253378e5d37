//! Profiles: import creates, updates and patches; bulk import jobs; cursor
//! pagination with filters and sorting by `updated`.

use super::*;

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
