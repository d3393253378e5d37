//! Extraction against the sandbox over real HTTP into real Delta tables: a full load
//! lands exactly the sandbox's records, incremental runs pick up exactly what
//! changed (late updates inside the lookback included), chaos changes nothing in the
//! landed data, our pacing keeps us out of Shopify's bucket, and a killed backfill
//! resumes to the same result as an uninterrupted one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::AsArray;
use lockstep::config::Secret;
use lockstep::connectors::shopify::{Client, ShopifySource};
use lockstep::extract::run::{Mode, run};
use lockstep::extract::{Source, backfill, incremental};
use lockstep::http::RetryPolicy;
use lockstep::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use lockstep::warehouse::{Location, Warehouse};

pub(crate) async fn sandbox(
    customers: usize,
    orders: usize,
    f: impl FnOnce(&mut SandboxConfig),
) -> SandboxHandle {
    let mut cfg = SandboxConfig::default();
    cfg.generator.customers = customers;
    cfg.generator.orders = orders;
    cfg.generator.seed = 7;
    f(&mut cfg);
    Sandbox::start(cfg).await.expect("sandbox starts")
}

pub(crate) fn shopify(handle: &SandboxHandle) -> ShopifySource {
    let token = Secret::from_value(
        "SHOPIFY_ACCESS_TOKEN",
        &handle.credentials.shopify_access_token,
    );
    let client = Client::new(
        "shopify source 'shop'".into(),
        handle.base_url.clone(),
        "2026-07".into(),
        token,
    )
    .unwrap()
    .with_api(|api| {
        api.with_policy(RetryPolicy {
            max_attempts: 12,
            base: Duration::from_millis(20),
            max_backoff: Duration::from_millis(500),
        })
        .with_timeout(Duration::from_secs(2))
        .unwrap()
    });
    ShopifySource::new("shop", client)
}

pub(crate) fn warehouse(dir: &std::path::Path) -> Warehouse {
    Warehouse::open(
        Location::parse("file://./wh", dir).unwrap(),
        &BTreeMap::new(),
    )
    .unwrap()
}

pub(crate) async fn query(wh: &Warehouse, sql: &str) -> Vec<arrow::array::RecordBatch> {
    wh.session()
        .await
        .unwrap()
        .sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

/// Rows of a two-column (text, text) query as a set, after casting to text.
async fn pairs(wh: &Warehouse, sql: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for b in query(wh, sql).await {
        let a = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let c = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            out.insert((
                a.as_string::<i32>().value(i).to_string(),
                c.as_string::<i32>().value(i).to_string(),
            ));
        }
    }
    out
}

pub(crate) async fn scalar_i64(wh: &Warehouse, sql: &str) -> i64 {
    let b = query(wh, sql).await;
    let c = arrow::compute::cast(b[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    c.as_primitive::<arrow::datatypes::Int64Type>().value(0)
}

const STREAMS: [&str; 3] = ["customers", "orders", "products"];

async fn extract_all(wh: &Warehouse, source: &dyn Source, lookback: Duration) {
    for s in STREAMS {
        let options = incremental::Options {
            lookback,
            flush_units: 1000,
        };
        run(wh, source, Some(s), Mode::Incremental(options))
            .await
            .unwrap();
    }
}

/// Order ids and successful refund cents as the sandbox holds them.
fn sandbox_orders(handle: &SandboxHandle) -> (BTreeSet<String>, i64, usize) {
    handle.shopify.read(|s| {
        let ids = s.orders.iter().map(|o| o.id.to_string()).collect();
        let refunded = s
            .orders
            .iter()
            .flat_map(|o| &o.refunds)
            .filter(|r| r.success)
            .map(|r| r.amount().0)
            .sum();
        (ids, refunded, s.customers.len())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_extract_lands_exactly_the_sandbox_records_then_only_changes() {
    let handle = sandbox(150, 600, |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = warehouse(tmp.path());
    let source = shopify(&handle);
    extract_all(&wh, &source, Duration::from_secs(3600)).await;

    let (order_ids, refunded_cents, customers) = sandbox_orders(&handle);
    let landed: BTreeSet<String> =
        pairs(&wh, "SELECT CAST(id AS VARCHAR), 'x' FROM raw_shop.orders")
            .await
            .into_iter()
            .map(|p| p.0)
            .collect();
    assert_eq!(landed, order_ids);
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await as usize,
        order_ids.len(),
        "no duplicates"
    );
    assert_eq!(
        scalar_i64(&wh, "SELECT count(DISTINCT id) FROM raw_shop.customers").await as usize,
        customers
    );
    let landed_refunds = scalar_i64(
        &wh,
        "SELECT CAST(sum(amount) * 100 AS BIGINT) FROM raw_shop.refund_transactions WHERE kind = 'refund' AND status = 'success'",
    )
    .await;
    assert_eq!(landed_refunds, refunded_cents);
    assert!(refunded_cents > 0, "the generated store has refunds");
    let lines = scalar_i64(&wh, "SELECT count(*) FROM raw_shop.order_line_items").await;
    let sandbox_lines = handle
        .shopify
        .read(|s| s.orders.iter().map(|o| o.line_items.len()).sum::<usize>());
    assert_eq!(lines as usize, sandbox_lines);

    // Changes in the store: new and updated records from the generator's stream, and
    // one late update: a customer change stamped 10 minutes before the cursor.
    let versions = "SELECT CAST(id AS VARCHAR), CAST(to_unixtime(updated_at) AS VARCHAR) FROM raw_shop.customers";
    let before = pairs(&wh, versions).await;
    let (late_id, _late_at) = handle
        .shopify
        .mutate(|store, stream| {
            let mut ev = Vec::new();
            if let Some(stream) = stream.as_mut() {
                for _ in 0..40 {
                    ev.extend(stream.step(store));
                }
            }
            let max = store
                .customers
                .iter()
                .map(|c| c.updated_at)
                .max()
                .unwrap_or(0);
            let c = store
                .customers
                .iter_mut()
                .find(|c| c.updated_at < max - 3600)
                .unwrap();
            c.first_name = "Latecomer".into();
            c.updated_at = max - 600;
            Ok::<_, ()>(ev)
        })
        .map(|_| {
            handle.shopify.read(|s| {
                let c = s
                    .customers
                    .iter()
                    .find(|c| &*c.first_name == "Latecomer")
                    .unwrap();
                (c.id, c.updated_at)
            })
        })
        .unwrap();
    let expected: BTreeSet<(String, i64)> = handle.shopify.read(|s| {
        s.customers
            .iter()
            .map(|c| (c.id.to_string(), c.updated_at))
            .collect()
    });
    extract_all(&wh, &source, Duration::from_secs(3600)).await;
    let after = pairs(&wh, versions).await;
    let new_rows: BTreeSet<String> = after.difference(&before).map(|p| p.0.clone()).collect();
    let changed: BTreeSet<String> = expected
        .iter()
        .filter(|(id, at)| !before.contains(&(id.clone(), at.to_string())))
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        changed.contains(&late_id.to_string()),
        "the late update is a change"
    );
    assert_eq!(
        new_rows, changed,
        "exactly the changed customers were landed"
    );
    let total = scalar_i64(&wh, "SELECT count(*) FROM raw_shop.customers").await as usize;
    assert_eq!(
        total,
        before.len() + changed.len(),
        "unchanged records were not landed again"
    );
    // Orders too: every current (id, updated_at) of the store is landed once.
    let dup = scalar_i64(
        &wh,
        "SELECT count(*) - count(DISTINCT (id, updated_at)) FROM raw_shop.orders",
    )
    .await;
    assert_eq!(dup, 0);
    let runs = scalar_i64(
        &wh,
        "SELECT count(*) FROM meta.extract_runs WHERE status = 'ok'",
    )
    .await;
    assert_eq!(runs, 6);
    handle.shutdown().await;
}

/// The chaos: 10% 429, 5% 5xx, 3% timeouts of 4 s, from `seed`.
pub(crate) fn storm(c: &mut SandboxConfig, seed: u64) {
    c.chaos.error_429 = 0.10;
    c.chaos.error_500 = 0.03;
    c.chaos.error_503 = 0.02;
    c.chaos.timeout_rate = 0.03;
    c.chaos.timeout_secs = 4.0;
    c.chaos.seed = seed;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_changes_nothing_in_the_landed_data() {
    let calm = sandbox(80, 300, |_| {}).await;
    let calm_dir = tempfile::tempdir().unwrap();
    let calm_wh = warehouse(calm_dir.path());
    extract_all(&calm_wh, &shopify(&calm), Duration::from_secs(3600)).await;

    let stormy = sandbox(80, 300, |c| storm(c, 11)).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = shopify(&stormy).with_page_size(50);
    extract_all(&wh, &source, Duration::from_secs(3600)).await;
    for table in [
        "orders",
        "customers",
        "order_line_items",
        "refund_transactions",
    ] {
        let sql =
            format!("SELECT CAST(id AS VARCHAR), CAST(_raw AS VARCHAR) FROM raw_shop.{table}");
        assert_eq!(
            pairs(&wh, &sql).await,
            pairs(&calm_wh, &sql).await,
            "{table} differs under chaos"
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
async fn pacing_from_the_call_limit_header_avoids_429s() {
    // The default bucket (40, leaking 2/s) and small pages: ~60 requests, more than
    // the bucket holds, so only pacing keeps us out of 429s.
    let handle = sandbox(100, 400, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = shopify(&handle).with_page_size(10);
    extract_all(&wh, &source, Duration::from_secs(3600)).await;
    let log: serde_json::Value = reqwest::get(format!("{}/_sandbox/requests", handle.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        log["total"].as_u64().unwrap() > 45,
        "the run needed more than one bucket: {}",
        log["total"]
    );
    assert_eq!(log["throttled_429"], 0, "pacing let a 429 through");
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await,
        400
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failure_is_one_clear_line_naming_the_source() {
    let handle = sandbox(5, 5, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let token = Secret::from_value("SHOPIFY_ACCESS_TOKEN", "wrong-token");
    let client = Client::new(
        "shopify source 'shop'".into(),
        handle.base_url.clone(),
        "2026-07".into(),
        token,
    )
    .unwrap();
    let source = ShopifySource::new("shop", client);
    let err = run(
        &wh,
        &source,
        Some("orders"),
        Mode::Incremental(incremental::Options::default()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("shopify source 'shop'")
            && err.contains("401")
            && err.contains("SHOPIFY_ACCESS_TOKEN"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    // The failed run is on record.
    assert_eq!(
        scalar_i64(
            &wh,
            "SELECT count(*) FROM meta.extract_runs WHERE status = 'failed'"
        )
        .await,
        1
    );
    handle.shutdown().await;
}

pub(crate) fn backfill_options() -> backfill::Options {
    backfill::Options {
        from: chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        to: chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        window: chrono::Duration::days(90),
        min_window: chrono::Duration::hours(1),
        bulk: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_lands_everything_once_and_a_rerun_lands_nothing() {
    let handle = sandbox(60, 300, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source: Arc<dyn Source> = Arc::new(shopify(&handle));
    let reports = run(
        &wh,
        source.as_ref(),
        Some("orders"),
        Mode::Backfill(backfill_options()),
    )
    .await
    .unwrap();
    assert!(reports[0].windows_landed > 3);
    let (ids, _, _) = sandbox_orders(&handle);
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await as usize,
        ids.len()
    );
    let again = run(
        &wh,
        source.as_ref(),
        Some("orders"),
        Mode::Backfill(backfill_options()),
    )
    .await
    .unwrap();
    assert_eq!(again[0].windows_landed, 0);
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await as usize,
        ids.len()
    );
    // The backfill left a cursor: an incremental run right after finds nothing new.
    let inc = run(
        &wh,
        source.as_ref(),
        Some("orders"),
        Mode::Incremental(incremental::Options::default()),
    )
    .await
    .unwrap();
    assert!(inc[0].rows.is_empty(), "{:?}", inc[0].rows);
    handle.shutdown().await;
}

pub(crate) fn project_for(handle: &SandboxHandle) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[warehouse]\nurl = \"file://./warehouse\"\n\n[sources.shop]\nkind = \"shopify\"\nshop = \"lockstep-sandbox\"\naccess_token = \"${{SHOPIFY_ACCESS_TOKEN}}\"\nbase_url = \"{}\"\n",
        handle.base_url
    );
    std::fs::write(dir.path().join("lockstep.toml"), toml).unwrap();
    dir
}

/// `lockstep backfill shop --entity orders` over 2024–2026 in `window`-long windows.
pub(crate) fn backfill_orders_cmd(
    dir: &std::path::Path,
    token: &str,
    window: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(crate::support::lockstep_bin());
    cmd.arg("--project")
        .arg(dir)
        .args([
            "backfill",
            "shop",
            "--entity",
            "orders",
            "--from",
            "2024-01-01",
            "--to",
            "2027-01-01",
            "--window",
            window,
        ])
        .env("SHOPIFY_ACCESS_TOKEN", token)
        .env_remove("LOCKSTEP_FAILPOINT");
    cmd
}

fn backfill_cmd(dir: &std::path::Path, token: &str) -> std::process::Command {
    backfill_orders_cmd(dir, token, "60d")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_killed_mid_way_resumes_to_the_same_records() {
    let handle = sandbox(60, 400, |c| c.shopify.bucket.size = 0).await;
    let token = handle.credentials.shopify_access_token.clone();

    // Reference: one uninterrupted run.
    let reference = project_for(&handle);
    let out = tokio::task::spawn_blocking({
        let (dir, token) = (reference.path().to_path_buf(), token.clone());
        move || backfill_cmd(&dir, &token).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same backfill, SIGKILLed before its 30th commit (a few windows in).
    let crashed = project_for(&handle);
    crate::support::kill_at_commit_failpoint(
        backfill_cmd(crashed.path(), &token)
            .env("LOCKSTEP_FAILPOINT", "warehouse.before_commit:pause@30"),
        "the backfill",
    )
    .await;
    let wh = Warehouse::open(
        Location::parse("file://./warehouse", crashed.path()).unwrap(),
        &BTreeMap::new(),
    )
    .unwrap();
    let partial = scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await;
    assert!(
        partial > 0 && partial < 400,
        "killed mid-way: {partial} orders landed"
    );

    let out = tokio::task::spawn_blocking({
        let (dir, token) = (crashed.path().to_path_buf(), token.clone());
        move || backfill_cmd(&dir, &token).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("resumed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let ref_wh = Warehouse::open(
        Location::parse("file://./warehouse", reference.path()).unwrap(),
        &BTreeMap::new(),
    )
    .unwrap();
    for table in [
        "orders",
        "order_line_items",
        "refunds",
        "refund_line_items",
        "refund_transactions",
        "order_adjustments",
    ] {
        let sql =
            format!("SELECT CAST(id AS VARCHAR), CAST(_raw AS VARCHAR) FROM raw_shop.{table}");
        assert_eq!(
            pairs(&wh, &sql).await,
            pairs(&ref_wh, &sql).await,
            "{table}: resumed run differs"
        );
        let dups = scalar_i64(
            &wh,
            &format!("SELECT count(*) - count(DISTINCT _raw) FROM raw_shop.{table}"),
        )
        .await;
        assert_eq!(dups, 0, "{table} has duplicates after the resume");
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_after_incremental_adds_nothing_and_levels_are_per_location() {
    let handle = sandbox(50, 200, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let source = shopify(&handle);
    let inc = Mode::Incremental(incremental::Options::default());
    run(&wh, &source, Some("orders"), inc).await.unwrap();
    run(&wh, &source, Some("inventory_levels"), inc)
        .await
        .unwrap();
    let reports = run(
        &wh,
        &source,
        Some("orders"),
        Mode::Backfill(backfill_options()),
    )
    .await
    .unwrap();
    assert!(
        reports[0].rows.values().all(|n| *n == 0),
        "{:?}",
        reports[0].rows
    );
    assert_eq!(reports[0].skipped, 200);
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.orders").await,
        200
    );
    // Every (item, location) level of the sandbox, once.
    let levels = handle.shopify.read(|s| s.inventory.len());
    assert!(levels > 0);
    assert_eq!(
        scalar_i64(
            &wh,
            "SELECT count(DISTINCT level_key) FROM raw_shop.inventory_levels"
        )
        .await as usize,
        levels
    );
    assert_eq!(
        scalar_i64(&wh, "SELECT count(*) FROM raw_shop.inventory_levels").await as usize,
        levels
    );
    handle.shutdown().await;
}
