//! Webhook deliveries: signatures a receiver can verify, retries, and the
//! changes the stream makes.

use super::*;

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

    let d = control(&sb, "/_sandbox/webhooks/deliveries").await;
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
