//! Paging by Link headers, the parameter rules, auth and the leaky bucket.

use super::*;

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
    let log = control(&sb, "/_sandbox/requests").await;
    assert_eq!(log["throttled_429"], 3);
    sb.shutdown().await;
}
