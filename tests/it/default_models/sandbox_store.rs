//! The default models over a generated sandbox store, extracted through the Shopify
//! connector over HTTP: `finance_daily` equals totals computed from the landed raw
//! JSON, data tests pass, CRM profiles agree with the store, golden ids survive a rerun.

use lockstep::config::Project;
use lockstep::connectors::{hubspot, klaviyo};
use lockstep::model;
use lockstep::warehouse::Warehouse;
use serde_json::{Value, json};

use super::{SANDBOX_ECB_CSV, default_models_with_seed, failing_tests, land, land_ecb, rows};

fn cents(v: &Value) -> i64 {
    match v {
        Value::String(s) => lockstep::extract::columns::parse_money(s).unwrap() as i64,
        Value::Number(n) => (n.as_f64().unwrap() * 100.0).round() as i64,
        _ => 0,
    }
}

fn utc_date(v: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%d")
        .to_string()
}

/// Per UTC day: [orders, gross, discounts, returns, shipping, taxes] in cents,
/// computed from the landed orders' `_raw` JSON (latest version of each order).
async fn finance_from_raw_json(
    project: &Project,
    wh: &Warehouse,
) -> std::collections::BTreeMap<String, [i64; 6]> {
    let raw = rows(project, wh, "SELECT _raw FROM raw_shop.orders").await;
    let mut latest: std::collections::BTreeMap<i64, (String, Value)> = Default::default();
    for r in raw {
        let o: Value = serde_json::from_str(&r[0]).unwrap();
        let version = chrono::DateTime::parse_from_rfc3339(o["updated_at"].as_str().unwrap())
            .unwrap()
            .to_rfc3339();
        let id = o["id"].as_i64().unwrap();
        if latest.get(&id).is_none_or(|(v, _)| *v < version) {
            latest.insert(id, (version, o));
        }
    }
    let mut days: std::collections::BTreeMap<String, [i64; 6]> = Default::default();
    for (_, o) in latest.values() {
        if o["test"] == json!(true) || o["financial_status"] == json!("voided") {
            continue;
        }
        let processed = if o["processed_at"].is_null() {
            &o["created_at"]
        } else {
            &o["processed_at"]
        };
        let d = days.entry(utc_date(processed)).or_default();
        d[0] += 1;
        for li in o["line_items"].as_array().into_iter().flatten() {
            d[1] += cents(&li["price"]) * li["quantity"].as_i64().unwrap();
        }
        d[2] += cents(&o["total_discounts"]);
        d[4] += cents(&o["total_shipping_price_set"]["shop_money"]["amount"]);
        d[5] += cents(&o["total_tax"]);
        for r in o["refunds"].as_array().into_iter().flatten() {
            let when = if r["processed_at"].is_null() {
                &r["created_at"]
            } else {
                &r["processed_at"]
            };
            let d = days.entry(utc_date(when)).or_default();
            for rli in r["refund_line_items"].as_array().into_iter().flatten() {
                d[3] += cents(&rli["subtotal"]);
                d[5] -= cents(&rli["total_tax"]);
            }
            for a in r["order_adjustments"].as_array().into_iter().flatten() {
                if a["kind"] == json!("shipping_refund") {
                    d[4] += cents(&a["amount"]);
                    d[5] += cents(&a["tax_amount"]);
                }
            }
        }
    }
    days
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_store_finance_daily_equals_totals_from_the_raw_json() {
    let handle = crate::extract::sandbox(120, 500, |_| {}).await;
    let source = crate::extract::shopify(&handle);
    let (_tmp, dir) =
        crate::support::project("[project]\n[warehouse]\nurl = \"file://./warehouse\"\n");
    default_models_with_seed(&dir, SANDBOX_ECB_CSV);
    let project = Project::load(&dir).unwrap();
    let wh = Warehouse::for_project(&project).unwrap();
    for stream in ["customers", "orders", "products", "inventory_levels"] {
        let options = lockstep::extract::incremental::Options {
            lookback: std::time::Duration::from_secs(0),
            flush_units: 1000,
        };
        lockstep::extract::run::run(
            &wh,
            &source,
            Some(stream),
            lockstep::extract::run::Mode::Incremental(options),
        )
        .await
        .unwrap();
    }
    // No CRM in this store; a rate from long before any order (reporting in USD).
    land(&wh, "hubspot", &hubspot::schema::CONTACTS, &[], "b1").await;
    land(&wh, "klaviyo", &klaviyo::schema::PROFILES, &[], "b1").await;
    land_ecb(&wh, SANDBOX_ECB_CSV).await;
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();

    let expected = finance_from_raw_json(&project, &wh).await;
    assert!(expected.len() > 10, "{} days", expected.len());
    let got = rows(&project, &wh,
        "SELECT CAST(day AS VARCHAR) AS d, orders, CAST(gross_sales * 100 AS BIGINT) AS g, CAST(discounts * 100 AS BIGINT) AS di, CAST(returns * 100 AS BIGINT) AS r, CAST(shipping * 100 AS BIGINT) AS s, CAST(taxes * 100 AS BIGINT) AS t FROM finance_daily ORDER BY day").await;
    let got: std::collections::BTreeMap<String, [i64; 6]> = got
        .iter()
        .map(|r| {
            let n: Vec<i64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
            (r[0].clone(), [n[0], n[1], n[2], n[3], n[4], n[5]])
        })
        .collect();
    let days: std::collections::BTreeSet<&String> = got.keys().chain(expected.keys()).collect();
    let wrong: Vec<String> = days
        .into_iter()
        .filter(|d| got.get(*d) != expected.get(*d))
        .map(|d| format!("{d}: model {:?} raw {:?}", got.get(d), expected.get(d)))
        .collect();
    assert!(
        wrong.is_empty(),
        "finance_daily differs from the raw JSON on {} of {} days ([orders, gross, discounts, returns, shipping, taxes] cents): {wrong:#?}",
        wrong.len(),
        expected.len()
    );
    let returns: i64 = expected.values().map(|d| d[3]).sum();
    assert!(returns > 0, "the generated store has refunds");

    let report = model::test(&project, &wh, &[]).await.unwrap();
    let failures = failing_tests(&report);
    assert!(failures.is_empty(), "failing data tests: {failures:#?}");

    // Record fidelity: for people whose orders all belong to their one store
    // customer, crm_profiles agrees with the store's own customer fields.
    let fidelity = rows(
        &project,
        &wh,
        "WITH person_orders AS (
           SELECT g.golden_id, count(*) AS orders, count(o.customer_id) AS with_customer
           FROM order_golden_ids g
           JOIN stg_shop_orders o ON g.order_id = o.order_id
           WHERE NOT o.is_test GROUP BY g.golden_id
         ), simple AS (
           SELECT gc.golden_id, gc.store_customer_id FROM golden_customers gc
           JOIN person_orders p ON p.golden_id = gc.golden_id
           WHERE (gc.store_customers = 1) AND (p.orders = p.with_customer)
         )
         SELECT s.customer_id, c.total_spent, s.total_spent AS store_total_spent, c.orders_count, s.orders_count AS store_orders_count
         FROM simple x JOIN crm_profiles c ON c.golden_id = x.golden_id
         JOIN stg_shop_customers s ON s.customer_id = x.store_customer_id
         ORDER BY s.customer_id",
    )
    .await;
    assert!(
        fidelity.len() > 20,
        "only {} customers compared",
        fidelity.len()
    );
    let differing: Vec<&Vec<String>> = fidelity
        .iter()
        .filter(|r| (r[1] != r[2]) || (r[3] != r[4]))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} differ: {differing:?}",
        differing.len(),
        fidelity.len()
    );

    let ids = "SELECT node, golden_id FROM identity_graph ORDER BY node";
    let before = rows(&project, &wh, ids).await;
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    assert_eq!(rows(&project, &wh, ids).await, before);
    handle.shutdown().await;
}
