//! Determinism by seed, and the chaos knobs: error rates, dropped and duplicated
//! webhooks, timeouts and latency.

use super::*;

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

    let log = control(&sb, "/_sandbox/requests").await;
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
    let log = control(&sb, "/_sandbox/requests").await;
    assert_eq!(log["total"], 0);
    sb.shutdown().await;
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
