//! Benchmark: backfill of a large store from the sandbox (rate limits off) into a
//! file:// warehouse — orders with line items, refunds, refund line items,
//! transactions and adjustments, through the Admin REST API in 30-day windows.
//! Prints orders/s end to end and peak memory. The sandbox runs in this process on
//! the same 2 cores, so peak memory includes its in-memory store.
//! Sizes: LOCKSTEP_BENCH_ORDERS (default 1,000,000), LOCKSTEP_BENCH_CUSTOMERS (100,000).
//! Run: `cargo bench --bench extract_backfill`. Target: ≥ 40,000 orders/s.

use std::collections::BTreeMap;
use std::time::Instant;

use lockstep::config::Secret;
use lockstep::connectors::shopify::{Client, ShopifySource};
use lockstep::extract::backfill;
use lockstep::extract::run::{Mode, run};
use lockstep::sandbox::{Sandbox, SandboxConfig};
use lockstep::warehouse::{Location, Warehouse};

mod common;
use common::{env_usize, peak_mib};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut cfg = SandboxConfig::default();
        cfg.generator.customers = env_usize("LOCKSTEP_BENCH_CUSTOMERS", 100_000);
        cfg.generator.orders = env_usize("LOCKSTEP_BENCH_ORDERS", 1_000_000);
        cfg.shopify.bucket.size = 0; // limits off
        let t = Instant::now();
        let handle = Sandbox::start(cfg.clone()).await?;
        println!("sandbox: {} orders generated in {:.1}s", cfg.generator.orders, t.elapsed().as_secs_f64());

        let dir = tempfile::tempdir()?;
        let warehouse = Warehouse::open(Location::parse("file://./wh", dir.path())?, &BTreeMap::new())?;
        let token = Secret::from_value("SHOPIFY_ACCESS_TOKEN", &handle.credentials.shopify_access_token);
        let client = Client::new("shopify source 'shop'".into(), handle.base_url.clone(), "2026-07".into(), token)?;
        let source = ShopifySource::new("shop", client);
        let options = backfill::Options {
            from: chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")?.to_utc(),
            to: chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")?.to_utc(),
            window: chrono::Duration::days(30),
            min_window: chrono::Duration::hours(1),
        };
        let t = Instant::now();
        let reports = run(&warehouse, &source, Some("orders"), Mode::Backfill(options)).await?;
        let secs = t.elapsed().as_secs_f64();
        let rows = &reports[0].rows;
        let orders = rows.get("orders").copied().unwrap_or(0);
        println!("landed: {rows:?}");
        println!(
            "extract_backfill: {orders} orders in {secs:.1}s = {:.0} orders/s end to end; peak RSS {:.0} MiB (sandbox included)",
            orders as f64 / secs,
            peak_mib()
        );
        handle.shutdown().await;
        Ok(())
    })
}
