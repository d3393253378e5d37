//! Shopify GraphQL bulk operations over real HTTP: CREATED → RUNNING → COMPLETED by
//! polling `node`, the JSONL covering every order with its children as `__parentId`
//! lines, the `query:` filter, validation errors, and the cost throttle.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use lockstep::sandbox::generator::{self, GeneratorConfig};
use lockstep::sandbox::shopify::graphql::CostConfig;
use lockstep::sandbox::shopify::rate_limit::BucketConfig;
use lockstep::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};

fn config(seed: u64) -> SandboxConfig {
    let mut cfg = SandboxConfig {
        generator: GeneratorConfig {
            seed,
            customers: 40,
            orders: 180,
            ..GeneratorConfig::default()
        },
        ..SandboxConfig::default()
    };
    cfg.shopify.bucket = BucketConfig {
        size: 0,
        leak_per_sec: 0.0,
    };
    cfg.shopify.bulk_step = Duration::from_millis(60);
    cfg
}

async fn gql(sb: &SandboxHandle, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/admin/api/2026-07/graphql.json", sb.base_url))
        .header(
            "X-Shopify-Access-Token",
            &sb.credentials.shopify_access_token,
        )
        .json(&json!({"query": query, "variables": variables}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("json")
}

const RUN: &str = "mutation run($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) { bulkOperation { id status createdAt } userErrors { field message } } }";
const POLL: &str = "query poll($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount rootObjectCount fileSize url partialDataUrl } } }";

/// Run a bulk query to completion; returns (statuses seen, final node).
async fn run_bulk(sb: &SandboxHandle, inner: &str) -> (BTreeSet<String>, Value) {
    let r = gql(sb, RUN, json!({"q": inner})).await;
    let payload = &r["data"]["bulkOperationRunQuery"];
    assert_eq!(payload["userErrors"], json!([]), "{r}");
    assert_eq!(payload["bulkOperation"]["status"], "CREATED");
    assert!(
        r["extensions"]["cost"]["throttleStatus"]["maximumAvailable"].is_number(),
        "{r}"
    );
    let id = payload["bulkOperation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(id.starts_with("gid://shopify/BulkOperation/"));
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = gql(sb, POLL, json!({"id": id})).await["data"]["node"].clone();
        let status = n["status"].as_str().expect("status").to_string();
        seen.insert(status.clone());
        if status == "COMPLETED" || Instant::now() > deadline {
            return (seen, n);
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

#[tokio::test]
async fn bulk_jsonl_covers_every_order_with_children_after_parents() {
    let cfg = config(21);
    let truth = generator::generate(&cfg.generator).store;
    let sb = Sandbox::start(cfg).await.expect("start");
    let inner = r#"{ orders { edges { node { __typename id name displayFinancialStatus
        totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
        lineItems { edges { node { __typename id quantity originalUnitPriceSet { shopMoney { amount } } } } }
        refunds { id createdAt refundLineItems { edges { node { __typename quantity subtotalSet { shopMoney { amount } } } } } } } } } }"#;
    let (seen, node) = run_bulk(&sb, inner).await;
    assert!(
        seen.contains("COMPLETED") && seen.contains("RUNNING"),
        "{seen:?}"
    );
    assert!(
        node["objectCount"].is_string() && node["fileSize"].is_string(),
        "UnsignedInt64 as strings: {node}"
    );
    let url = node["url"].as_str().expect("url");
    let text = reqwest::get(url)
        .await
        .expect("download")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#""gid:\/\/shopify\/Order\/"#),
        "slashes escaped as Shopify does"
    );
    assert_eq!(node["fileSize"], text.len().to_string());

    let mut orders_seen = Vec::new();
    let mut refund_ids = BTreeSet::new();
    let mut line_parents: BTreeMap<String, usize> = BTreeMap::new();
    let mut refund_lines = 0;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect();
    assert_eq!(node["objectCount"], lines.len().to_string());
    for v in &lines {
        match (v["__typename"].as_str(), v.get("__parentId")) {
            (Some("Order"), None) => {
                orders_seen.push(v["id"].as_str().expect("id").to_string());
                for r in v["refunds"].as_array().expect("refunds inline") {
                    refund_ids.insert(r["id"].as_str().expect("refund id").to_string());
                }
            }
            (Some("LineItem"), Some(p)) => {
                let p = p.as_str().expect("parent").to_string();
                assert!(
                    orders_seen.contains(&p),
                    "parent {p} comes before its children"
                );
                *line_parents.entry(p).or_default() += 1;
            }
            (Some("RefundLineItem"), Some(p)) => {
                assert!(
                    refund_ids.contains(p.as_str().expect("parent")),
                    "refund line's parent is a refund seen earlier"
                );
                refund_lines += 1;
            }
            other => panic!("unexpected line {other:?}: {v}"),
        }
    }
    let want: Vec<String> = truth
        .orders
        .iter()
        .map(|o| format!("gid://shopify/Order/{}", o.id))
        .collect();
    assert_eq!(orders_seen, want, "every order once");
    for o in &truth.orders {
        assert_eq!(
            line_parents
                .get(&format!("gid://shopify/Order/{}", o.id))
                .copied()
                .unwrap_or(0),
            o.line_items.len()
        );
    }
    let want_refund_lines: usize = truth
        .orders
        .iter()
        .flat_map(|o| &o.refunds)
        .map(|r| r.lines.len())
        .sum();
    assert_eq!(refund_lines, want_refund_lines);
    assert!(want_refund_lines > 0);

    // The query filter narrows the roots.
    let cut = truth.orders[truth.orders.len() / 3].updated_at;
    let since = chrono::DateTime::from_timestamp(cut, 0)
        .expect("ts")
        .format("%Y-%m-%dT%H:%M:%S+00:00");
    let filtered = format!(
        "{{ orders(query: \"updated_at:>='{since}'\") {{ edges {{ node {{ id updatedAt }} }} }} }}"
    );
    let (_, node) = run_bulk(&sb, &filtered).await;
    let want = truth.orders.iter().filter(|o| o.updated_at >= cut).count();
    assert_eq!(node["rootObjectCount"], want.to_string());
    sb.shutdown().await;
}

#[tokio::test]
async fn invalid_bulk_queries_and_unknown_fields_are_refused() {
    let sb = Sandbox::start(config(2)).await.expect("start");
    let r = gql(
        &sb,
        RUN,
        json!({"q": "{ orders { edges { node { id notAField } } } }"}),
    )
    .await;
    let errs = &r["data"]["bulkOperationRunQuery"]["userErrors"];
    assert!(
        errs[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Field 'notAField' doesn't exist on type 'Order'"),
        "{r}"
    );
    assert_eq!(
        r["data"]["bulkOperationRunQuery"]["bulkOperation"],
        Value::Null
    );
    let r = gql(
        &sb,
        "{ products(first: 5) { edges { node { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        r["errors"][0]["extensions"]["code"], "undefinedField",
        "{r}"
    );
    let r = gql(&sb, "{ shop { name myshopifyDomain } }", json!({})).await;
    assert_eq!(
        r["data"]["shop"]["myshopifyDomain"],
        "lockstep-sandbox.myshopify.com"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn cost_throttle_answers_throttled_when_the_bucket_is_empty() {
    let mut cfg = config(3);
    cfg.shopify.graphql = CostConfig {
        maximum_available: 15.0,
        restore_rate: 1.0,
        throttle_status: 200,
    };
    let sb = Sandbox::start(cfg).await.expect("start");
    let q = "{ customers { edges { node { id } } } }";
    let first = gql(&sb, RUN, json!({"q": q})).await;
    assert_eq!(
        first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        5.0
    );
    let second = gql(&sb, RUN, json!({"q": q})).await;
    assert_eq!(
        second["errors"][0]["extensions"]["code"], "THROTTLED",
        "{second}"
    );
    assert_eq!(second["extensions"]["cost"]["actualQueryCost"], Value::Null);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_bulk_operation_can_be_cancelled_and_is_the_current_one() {
    let mut cfg = config(4);
    cfg.shopify.bulk_step = Duration::from_millis(400);
    let sb = Sandbox::start(cfg).await.expect("start");
    let r = gql(
        &sb,
        RUN,
        json!({"q": "{ customers { edges { node { id email } } } }"}),
    )
    .await;
    let id = r["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let cur = gql(
        &sb,
        "{ currentBulkOperation(type: QUERY) { id status } }",
        json!({}),
    )
    .await;
    assert_eq!(cur["data"]["currentBulkOperation"]["id"], id.as_str());
    let cancel = "mutation c($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { id status } userErrors { message } } }";
    let r = gql(&sb, cancel, json!({"id": id})).await;
    assert_eq!(
        r["data"]["bulkOperationCancel"]["userErrors"],
        json!([]),
        "{r}"
    );
    assert_eq!(
        r["data"]["bulkOperationCancel"]["bulkOperation"]["status"],
        "CANCELED"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let n = gql(&sb, POLL, json!({"id": id})).await;
    assert_eq!(
        n["data"]["node"]["status"], "CANCELED",
        "stays cancelled: {n}"
    );
    assert_eq!(n["data"]["node"]["url"], Value::Null);
    // Cancelling a finished operation is a user error.
    let r = gql(&sb, cancel, json!({"id": id})).await;
    assert!(
        r["data"]["bulkOperationCancel"]["userErrors"][0]["message"].is_string(),
        "{r}"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_started_together_get_distinct_ids() {
    let sb = Sandbox::start(config(5)).await.expect("start");
    let q = json!({"q": "{ customers { edges { node { id } } } }"});
    let runs = (0..5).map(|_| gql(&sb, RUN, q.clone()));
    let ids: BTreeSet<String> = futures::future::join_all(runs)
        .await
        .iter()
        .map(|r| {
            r["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    sb.shutdown().await;
}
