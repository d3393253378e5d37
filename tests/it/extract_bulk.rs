//! Shopify backfills through GraphQL Bulk Operations, against the sandbox over real
//! HTTP into real Delta tables: a full bulk backfill lands exactly the sandbox's
//! records; bulk rows equal REST rows column for column (except the documented
//! gaps); a backfill SIGKILLed mid-way resumes to the same set; a failing or
//! timed-out job shrinks its window and, at the minimum, fails with one line;
//! chaos changes nothing in the landed data; and pacing by GraphQL cost keeps the
//! calls out of Shopify's throttle.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use arrow::array::{Array, AsArray};
use lockstep::connectors::shopify::{Polling, ShopifySource, schema};
use lockstep::extract::run::{Mode, run};
use lockstep::extract::{EntitySchema, Source, backfill};
use lockstep::sandbox::{SandboxConfig, SandboxHandle};
use lockstep::warehouse::{Location, Warehouse};

use crate::extract::{project_for, query, sandbox, scalar_i64, shopify, warehouse};

/// Every table the orders stream lands.
const ORDER_TABLES: [&EntitySchema; 6] = [
    &schema::ORDERS,
    &schema::ORDER_LINE_ITEMS,
    &schema::REFUNDS,
    &schema::REFUND_LINE_ITEMS,
    &schema::REFUND_TRANSACTIONS,
    &schema::ORDER_ADJUSTMENTS,
];

/// Typed columns bulk rows cannot fill as REST does (see `connectors::shopify::bulk`).
const GAPS: [&str; 5] = [
    "orders.discount_codes",
    "orders.shipping_lines",
    "orders.tax_lines",
    "order_line_items.tax_lines",
    "order_adjustments.reason",
];

async fn store(
    customers: usize,
    orders: usize,
    f: impl FnOnce(&mut SandboxConfig),
) -> SandboxHandle {
    sandbox(customers, orders, |c| {
        c.shopify.bulk_step = Duration::from_millis(20);
        f(c);
    })
    .await
}

fn fast_polling() -> Polling {
    Polling {
        first: Duration::from_millis(10),
        max: Duration::from_millis(100),
        timeout: Duration::from_secs(60),
        ..Polling::default()
    }
}

fn source(handle: &SandboxHandle) -> ShopifySource {
    shopify(handle).with_polling(fast_polling())
}

fn options(bulk: bool, window_days: i64) -> backfill::Options {
    backfill::Options {
        from: chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        to: chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        window: chrono::Duration::days(window_days),
        min_window: chrono::Duration::hours(1),
        bulk,
    }
}

async fn backfill(wh: &Warehouse, source: &dyn Source, stream: &str, o: backfill::Options) -> u64 {
    let reports = run(wh, source, Some(stream), Mode::Backfill(o))
        .await
        .unwrap();
    reports[0].windows_landed
}

/// The first column of a query, as text, one entry per row.
async fn texts(wh: &Warehouse, sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in query(wh, sql).await {
        let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let c = c.as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push(if c.is_null(i) {
                "NULL".into()
            } else {
                c.value(i).to_string()
            });
        }
    }
    out
}

/// Every row of `table` as one text: its typed columns (gaps left out, or every
/// column with `_raw` when `raw`), so two warehouses can be compared as sets.
async fn rows(wh: &Warehouse, table: &EntitySchema, raw: bool) -> BTreeSet<String> {
    let mut cols: Vec<String> = table
        .columns
        .iter()
        .filter(|c| raw || !GAPS.contains(&format!("{}.{}", table.entity, c.name).as_str()))
        .map(|c| format!("COALESCE(CAST(\"{}\" AS VARCHAR), 'NULL')", c.name))
        .collect();
    if raw {
        cols.push("_raw".into());
    }
    let sql = format!(
        "SELECT concat_ws(' | ', {}) FROM raw_shop.{}",
        cols.join(", "),
        table.entity
    );
    let all = texts(wh, &sql).await;
    let mut set = BTreeSet::new();
    let dups: Vec<&String> = all.iter().filter(|r| !set.insert(r.as_str())).collect();
    assert!(
        dups.is_empty(),
        "{}: {} duplicate rows, e.g. {:?}",
        table.entity,
        dups.len(),
        dups.iter().take(2).collect::<Vec<_>>()
    );
    set.into_iter().map(str::to_string).collect()
}

/// Requests per endpoint template in the sandbox's log.
fn endpoint_counts(handle: &SandboxHandle) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in handle.log.to_json(0)["by_endpoint"].as_array().unwrap() {
        *out.entry(e["endpoint"].as_str().unwrap().to_string())
            .or_default() += e["count"].as_u64().unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_backfill_lands_exactly_the_sandbox_records() {
    let handle = store(120, 500, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = source(&handle);
    assert!(backfill(&wh, &source, "orders", options(true, 120)).await > 3);
    backfill(&wh, &source, "customers", options(true, 365)).await;

    let (orders, customers, lines, refunds, refund_lines, adjustments, refunded) =
        handle.shopify.read(|s| {
            let ids = |v: Vec<u64>| {
                v.into_iter()
                    .map(|i| i.to_string())
                    .collect::<BTreeSet<_>>()
            };
            let all_refunds: Vec<_> = s.orders.iter().flat_map(|o| &o.refunds).collect();
            (
                ids(s.orders.iter().map(|o| o.id).collect()),
                ids(s.customers.iter().map(|c| c.id).collect()),
                ids(s
                    .orders
                    .iter()
                    .flat_map(|o| &o.line_items)
                    .map(|l| l.id)
                    .collect()),
                ids(all_refunds.iter().map(|r| r.id).collect()),
                ids(all_refunds
                    .iter()
                    .flat_map(|r| &r.lines)
                    .map(|l| l.id)
                    .collect()),
                ids(all_refunds
                    .iter()
                    .filter(|r| r.shipping.0 > 0)
                    .map(|r| r.adjustment_id)
                    .collect()),
                all_refunds
                    .iter()
                    .filter(|r| r.success)
                    .map(|r| r.amount().0)
                    .sum::<i64>(),
            )
        });
    for (table, want) in [
        ("orders", &orders),
        ("customers", &customers),
        ("order_line_items", &lines),
        ("refunds", &refunds),
        ("refund_line_items", &refund_lines),
        ("order_adjustments", &adjustments),
    ] {
        let landed = texts(&wh, &format!("SELECT id FROM raw_shop.{table}")).await;
        assert_eq!(landed.len(), want.len(), "{table}: one row per record");
        let landed: BTreeSet<String> = landed.into_iter().collect();
        assert_eq!(&landed, want, "{table}: exactly the sandbox's ids");
        assert!(!want.is_empty(), "{table}: the store has some");
    }
    let landed_refunds = scalar_i64(
        &wh,
        "SELECT CAST(sum(amount) * 100 AS BIGINT) FROM raw_shop.refund_transactions WHERE kind = 'refund' AND status = 'success'",
    )
    .await;
    assert_eq!(landed_refunds, refunded);
    // Through bulk operations, not REST paging.
    let calls = endpoint_counts(&handle);
    assert!(
        calls
            .keys()
            .all(|e| !e.ends_with("orders.json") && !e.ends_with("customers.json")),
        "{calls:?}"
    );
    assert!(
        calls.keys().any(|e| e.ends_with("graphql.json")),
        "{calls:?}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_rows_equal_rest_rows_for_the_same_store() {
    let handle = store(100, 400, |c| c.shopify.bucket.size = 0).await;
    let source = source(&handle);
    let rest_dir = tempfile::tempdir().unwrap();
    let rest = warehouse(rest_dir.path());
    let bulk_dir = tempfile::tempdir().unwrap();
    let bulk = warehouse(bulk_dir.path());
    for stream in ["orders", "customers"] {
        backfill(&rest, &source, stream, options(false, 365)).await;
        backfill(&bulk, &source, stream, options(true, 365)).await;
    }
    for table in ORDER_TABLES.iter().copied().chain([&schema::CUSTOMERS]) {
        let (r, b) = (
            rows(&rest, table, false).await,
            rows(&bulk, table, false).await,
        );
        assert!(!r.is_empty(), "{}: nothing landed", table.entity);
        let only_rest: Vec<_> = r.difference(&b).take(2).collect();
        let only_bulk: Vec<_> = b.difference(&r).take(2).collect();
        assert!(
            only_rest.is_empty() && only_bulk.is_empty(),
            "{}: REST rows {only_rest:?}\nvs bulk rows {only_bulk:?}",
            table.entity
        );
    }
    handle.shutdown().await;
}

fn backfill_cmd(dir: &std::path::Path, token: &str) -> std::process::Command {
    let mut cmd = crate::extract::backfill_orders_cmd(dir, token, "45d");
    cmd.arg("--json");
    cmd
}

fn cli_ok(cmd: &mut std::process::Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cli_warehouse(dir: &std::path::Path) -> Warehouse {
    Warehouse::open(
        Location::parse("file://./warehouse", dir).unwrap(),
        &BTreeMap::new(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_bulk_backfill_then_rerun_lands_the_same_set() {
    let handle = store(60, 500, |_| {}).await;
    let token = handle.credentials.shopify_access_token.clone();

    let reference = project_for(&handle);
    let report = tokio::task::spawn_blocking({
        let (dir, token) = (reference.path().to_path_buf(), token.clone());
        move || cli_ok(&mut backfill_cmd(&dir, &token))
    })
    .await
    .unwrap();
    let windows = report[0]["windows_landed"].as_u64().unwrap();
    assert!(windows > 6, "{report}");
    let ref_wh = cli_warehouse(reference.path());

    // Killed twice: once between a child table's commit and the order table's (a
    // window half landed), once later.
    let crashed = project_for(&handle);
    for nth in [9, 23] {
        crate::support::kill_at_commit_failpoint(
            backfill_cmd(crashed.path(), &token).env(
                "LOCKSTEP_FAILPOINT",
                format!("warehouse.before_commit:pause@{nth}"),
            ),
            &format!("the backfill (commit {nth})"),
        )
        .await;
        let wh = cli_warehouse(crashed.path());
        let partial = scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await;
        assert!(
            partial > 0 && partial < 500,
            "killed mid-way: {partial} orders landed"
        );
    }
    let report = tokio::task::spawn_blocking({
        let (dir, token) = (crashed.path().to_path_buf(), token.clone());
        move || cli_ok(&mut backfill_cmd(&dir, &token))
    })
    .await
    .unwrap();
    assert!(
        report[0]["windows_skipped"].as_u64().unwrap() > 0,
        "the rerun resumed: {report}"
    );
    let wh = cli_warehouse(crashed.path());
    for table in ORDER_TABLES {
        // `rows` also fails on any duplicate row.
        assert_eq!(
            rows(&wh, table, true).await,
            rows(&ref_wh, table, true).await,
            "{}: resumed run differs",
            table.entity
        );
    }
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await,
        500
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_bulk_job_shrinks_the_window_down_to_a_clear_failure() {
    // Jobs over 400 objects fail (as over-long exports do at Shopify): a 10-year
    // window cannot pass, its halves and quarters can.
    let handle = store(40, 400, |c| c.shopify.bulk_max_objects = 400).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = source(&handle);
    let windows = backfill(&wh, &source, "orders", options(true, 3653)).await;
    assert!(windows >= 2, "the window was split: {windows}");
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await,
        400
    );
    let ids: BTreeSet<String> = texts(&wh, "SELECT id FROM raw_shop.orders")
        .await
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 400, "no gaps where windows were split");
    let statuses = bulk_statuses(&handle).await;
    assert!(
        statuses.get("FAILED").copied().unwrap_or(0) >= 1,
        "the whole range failed first: {statuses:?}"
    );
    // Exports already running behind a failed one are re-run after its halves.
    assert!(
        statuses.get("COMPLETED").copied().unwrap_or(0) >= windows,
        "a completed job per landed window: {statuses:?}"
    );

    // Nothing passes: halving stops at the minimum with one clear line.
    let handle2 = store(10, 60, |c| c.shopify.bulk_max_objects = 1).await;
    let dir2 = tempfile::tempdir().unwrap();
    let wh2 = warehouse(dir2.path());
    let mut o = options(true, 3653);
    o.min_window = chrono::Duration::days(200);
    let err = run(
        &wh2,
        &source_for(&handle2),
        Some("orders"),
        Mode::Backfill(o),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("shopify source 'shop'")
            && err.contains("FAILED")
            && err.contains("TIMEOUT")
            && err.contains("minimum"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");

    // A job that outlives the poll timeout is cancelled and counts as failed too.
    let handle3 = store(10, 60, |c| c.shopify.bulk_step = Duration::from_secs(3)).await;
    let slow = shopify(&handle3).with_polling(Polling {
        timeout: Duration::from_millis(200),
        ..fast_polling()
    });
    let dir3 = tempfile::tempdir().unwrap();
    let err = run(
        &warehouse(dir3.path()),
        &slow,
        Some("orders"),
        Mode::Backfill(o),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("TIMEOUT") && err.contains("cancelled"),
        "{err}"
    );
    handle.shutdown().await;
    handle2.shutdown().await;
    handle3.shutdown().await;
}

/// How many of the sandbox's bulk operations ended in each status (read back over
/// GraphQL: operation ids are sequential up to the current one).
async fn bulk_statuses(handle: &SandboxHandle) -> BTreeMap<String, u64> {
    let gql = |query: String| async move {
        reqwest::Client::new()
            .post(format!(
                "{}/admin/api/2026-07/graphql.json",
                handle.base_url
            ))
            .header(
                "X-Shopify-Access-Token",
                &handle.credentials.shopify_access_token,
            )
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let id = |v: &serde_json::Value| -> u64 {
        v.as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let current = gql("{ currentBulkOperation(type: QUERY) { id } }".into()).await;
    let last = id(&current["data"]["currentBulkOperation"]["id"]);
    let mut out = BTreeMap::new();
    for n in 4_412_000_001..=last {
        let q = format!(
            "{{ node(id: \"gid://shopify/BulkOperation/{n}\") {{ ... on BulkOperation {{ status }} }} }}"
        );
        let v = gql(q).await;
        let status = v["data"]["node"]["status"].as_str().unwrap().to_string();
        *out.entry(status).or_default() += 1;
    }
    out
}

fn source_for(handle: &SandboxHandle) -> ShopifySource {
    source(handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_lands_identical_data_through_bulk() {
    let calm = store(60, 300, |_| {}).await;
    let calm_dir = tempfile::tempdir().unwrap();
    let calm_wh = warehouse(calm_dir.path());
    let calm_source = source(&calm);
    for stream in ["orders", "customers"] {
        backfill(&calm_wh, &calm_source, stream, options(true, 180)).await;
    }

    let stormy = store(60, 300, |c| crate::extract::storm(c, 5)).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = source(&stormy);
    for stream in ["orders", "customers"] {
        backfill(&wh, &source, stream, options(true, 180)).await;
    }
    for table in ORDER_TABLES.iter().copied().chain([&schema::CUSTOMERS]) {
        assert_eq!(
            rows(&wh, table, true).await,
            rows(&calm_wh, table, true).await,
            "{} differs under chaos",
            table.entity
        );
    }
    let c = source.counters();
    assert!(
        c.retries > 0 && c.throttled > 0,
        "chaos was exercised: {c:?}"
    );
    calm.shutdown().await;
    stormy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_cost_pacing_keeps_bulk_calls_out_of_the_throttle() {
    // A small cost bucket (40 points, 40/s) answering THROTTLED with 429: 21 windows
    // of a run mutation (10 points) and polls (1 each) need several bucketfuls, so
    // only pacing from `extensions.cost` keeps the calls out of the throttle.
    let handle = store(30, 200, |c| {
        c.shopify.graphql.maximum_available = 40.0;
        c.shopify.graphql.restore_rate = 40.0;
        c.shopify.graphql.throttle_status = 429;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = source(&handle);
    let windows = backfill(&wh, &source, "orders", options(true, 180)).await;
    assert!(windows >= 20, "{windows} windows");
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await,
        200
    );
    let graphql: u64 = endpoint_counts(&handle)
        .iter()
        .filter(|(e, _)| e.ends_with("graphql.json"))
        .map(|(_, n)| n)
        .sum();
    // A run (10 points) and at least one poll per window: the runs alone are five
    // bucketfuls. How many polls a job needs depends on timing, so only the floor
    // is checked.
    assert!(
        graphql >= 2 * windows,
        "{graphql} GraphQL calls for {windows} windows"
    );
    let throttled = handle.log.to_json(0)["throttled_429"].as_u64().unwrap();
    assert!(
        throttled <= 1,
        "{throttled} THROTTLED answers: only the first may come before the bucket is known"
    );
    handle.shutdown().await;
}
