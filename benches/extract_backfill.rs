//! Benchmark: backfill of a large store from the sandbox (rate limits off) into a
//! file:// warehouse through Shopify GraphQL Bulk Operations — orders with line
//! items, refunds, refund line items, transactions and adjustments, then customers —
//! in 30-day windows (the export of window N+1 overlaps the landing of window N).
//! Prints orders/s end to end and peak memory. The sandbox runs in this process on
//! the same 2 cores (it renders each job's JSONL, as Shopify would on its side), so
//! peak memory includes its in-memory store.
//! Sizes: LOCKSTEP_BENCH_ORDERS (default 1,000,000), LOCKSTEP_BENCH_CUSTOMERS
//! (100,000); LOCKSTEP_BENCH_PAGING=1 pages the REST API instead, for comparison.
//! Run: `cargo bench --bench extract_backfill`. Target: ≥ 40,000 orders/s.

use std::collections::BTreeMap;
use std::time::Instant;

use lockstep::extract::run::{Mode, run};
use lockstep::sandbox::{Sandbox, SandboxConfig};
use lockstep::warehouse::{Location, Warehouse};

mod common;
use common::{
    cpu_secs, env_u64, env_usize, peak_mib, reset_peak, shopify_source, shopify_unlimited,
    store_history,
};

fn main() -> anyhow::Result<()> {
    lockstep::alloc::tune();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut cfg = SandboxConfig::default();
        cfg.generator.customers = env_usize("LOCKSTEP_BENCH_CUSTOMERS", 100_000);
        cfg.generator.orders = env_usize("LOCKSTEP_BENCH_ORDERS", 1_000_000);
        shopify_unlimited(&mut cfg); // limits off
        let bulk = env_u64("LOCKSTEP_BENCH_PAGING", 0) == 0;
        let t = Instant::now();
        let handle = Sandbox::start(cfg.clone()).await?;
        println!(
            "sandbox: {} orders generated in {:.1}s; peak RSS so far {:.0} MiB",
            cfg.generator.orders,
            t.elapsed().as_secs_f64(),
            peak_mib()
        );
        reset_peak();

        let dir = tempfile::tempdir()?;
        let warehouse = Warehouse::open(Location::parse("file://./wh", dir.path())?, &BTreeMap::new())?;
        let source = shopify_source(&handle)?;
        let options = store_history(bulk)?;
        let cpu = cpu_secs();
        let t = Instant::now();
        let reports = run(&warehouse, &source, Some("orders"), Mode::Backfill(options)).await?;
        let secs = t.elapsed().as_secs_f64();
        let now = cpu_secs();
        let (user, sys) = (now.0 - cpu.0, now.1 - cpu.1);
        let rows = &reports[0].rows;
        let orders = rows.get("orders").copied().unwrap_or(0);
        println!("landed: {rows:?}");
        // Sandbox included: both run on this machine's cores.
        println!(
            "CPU during the orders backfill: user {user:.1}s + system {sys:.1}s = {:.0}% of one core",
            100.0 * (user + sys) / secs
        );
        let t = Instant::now();
        let customers = run(&warehouse, &source, Some("customers"), Mode::Backfill(options)).await?;
        let csecs = t.elapsed().as_secs_f64();
        let ccount = customers[0].rows.get("customers").copied().unwrap_or(0);
        println!(
            "extract_backfill ({}): {orders} orders in {secs:.1}s = {:.0} orders/s end to end; {ccount} customers in {csecs:.1}s = {:.0}/s; peak RSS during the backfill {:.0} MiB (sandbox included)",
            if bulk { "bulk operations" } else { "REST paging" },
            orders as f64 / secs,
            ccount as f64 / csecs,
            peak_mib()
        );
        handle.shutdown().await;
        Ok(())
    })
}
