//! `--load`: an export of REST customers and orders (refunds embedded) replays as the
//! same store — walked out of one sandbox, loaded into another, walked again.

use std::io::Write;
use std::time::Duration;

use lockstep::sandbox::generator::GeneratorConfig;
use lockstep::sandbox::shopify::rate_limit::BucketConfig;
use lockstep::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;

async fn walk(sb: &SandboxHandle, first: &str, key: &str) -> Vec<Value> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut out = Vec::new();
    let mut url = Some(format!("{}{first}", sb.base_url));
    for _ in 0..1000 {
        let Some(u) = url.take() else { break };
        let r = http
            .get(&u)
            .header(
                "X-Shopify-Access-Token",
                &sb.credentials.shopify_access_token,
            )
            .send()
            .await
            .expect("get");
        url = r
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| {
                l.split(", ")
                    .find(|p| p.ends_with("rel=\"next\""))
                    .map(|p| {
                        p[p.find('<').unwrap_or(0) + 1..p.find('>').unwrap_or(p.len())].to_string()
                    })
            });
        let body: Value = r.json().await.expect("json");
        out.extend(body[key].as_array().cloned().unwrap_or_default());
    }
    out
}

fn pick(v: &Value, keys: &[&str]) -> Vec<Value> {
    keys.iter().map(|k| v[*k].clone()).collect()
}

#[tokio::test]
async fn an_exported_store_loads_back_the_same() {
    let mut cfg = SandboxConfig {
        generator: GeneratorConfig {
            seed: 31,
            customers: 40,
            orders: 150,
            ..GeneratorConfig::default()
        },
        ..SandboxConfig::default()
    };
    cfg.shopify.bucket = BucketConfig {
        size: 0,
        leak_per_sec: 0.0,
    };
    let a = Sandbox::start(cfg.clone()).await.expect("start");
    let customers = walk(
        &a,
        "/admin/api/2026-07/customers.json?limit=250",
        "customers",
    )
    .await;
    let orders = walk(
        &a,
        "/admin/api/2026-07/orders.json?status=any&limit=250",
        "orders",
    )
    .await;
    assert_eq!((customers.len(), orders.len()), (40, 150));

    let mut file = tempfile::NamedTempFile::new().expect("temp");
    for c in &customers {
        writeln!(file, "{c}").expect("write");
    }
    for o in &orders {
        writeln!(file, "{o}").expect("write");
    }
    file.flush().expect("flush");
    let mut cfg2 = cfg.clone();
    cfg2.load = Some(file.path().to_path_buf());
    let b = Sandbox::start(cfg2).await.expect("start with --load");
    let customers2 = walk(
        &b,
        "/admin/api/2026-07/customers.json?limit=250",
        "customers",
    )
    .await;
    let orders2 = walk(
        &b,
        "/admin/api/2026-07/orders.json?status=any&limit=250",
        "orders",
    )
    .await;
    assert_eq!(customers2.len(), customers.len());
    assert_eq!(orders2.len(), orders.len());
    let ck = [
        "id",
        "email",
        "phone",
        "first_name",
        "updated_at",
        "orders_count",
        "total_spent",
        "tags",
        "state",
    ];
    for (x, y) in customers.iter().zip(&customers2) {
        assert_eq!(pick(x, &ck), pick(y, &ck));
    }
    let ok = [
        "id",
        "name",
        "email",
        "created_at",
        "updated_at",
        "cancelled_at",
        "closed_at",
        "financial_status",
        "fulfillment_status",
        "total_price",
        "subtotal_price",
        "total_tax",
        "total_discounts",
        "current_total_price",
        "total_price_set",
        "test",
        "presentment_currency",
    ];
    for (x, y) in orders.iter().zip(&orders2) {
        assert_eq!(pick(x, &ok), pick(y, &ok), "order {}", x["id"]);
        // Shop-money facts of refunds; presentment amounts other than the order total are
        // re-derived from the order's rate on load and may move by a cent.
        let facts = |o: &Value| -> Vec<Value> {
            o["refunds"]
                .as_array()
                .expect("refunds")
                .iter()
                .map(|r| {
                    let lines: Vec<Value> = r["refund_line_items"]
                        .as_array()
                        .expect("lines")
                        .iter()
                        .map(|l| {
                            Value::Array(pick(
                                l,
                                &["id", "line_item_id", "quantity", "subtotal", "total_tax"],
                            ))
                        })
                        .collect();
                    let adj: Vec<Value> = r["order_adjustments"]
                        .as_array()
                        .expect("adj")
                        .iter()
                        .map(|a| Value::Array(pick(a, &["kind", "amount"])))
                        .collect();
                    Value::Array(vec![
                        r["id"].clone(),
                        r["created_at"].clone(),
                        Value::Array(lines),
                        Value::Array(adj),
                        r["transactions"][0]["amount"].clone(),
                    ])
                })
                .collect()
        };
        let (rx, ry) = (facts(x), facts(y));
        assert_eq!(rx, ry, "refunds of order {}", x["id"]);
    }

    // A broken line is reported with its line number.
    let mut bad = tempfile::NamedTempFile::new().expect("temp");
    writeln!(bad, "{}", customers[0]).expect("write");
    writeln!(bad, "{{not json").expect("write");
    let mut cfg3 = cfg;
    cfg3.load = Some(bad.path().to_path_buf());
    let err = Sandbox::start(cfg3)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains(":2: not JSON"), "{err}");
    a.shutdown().await;
    b.shutdown().await;
}
