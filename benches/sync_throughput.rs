//! Benchmark (issue #6b): sync throughput against the sandbox's HubSpot limit (a
//! rolling window of `LOCKSTEP_BENCH_LIMIT` requests per 10 s, default 100, HubSpot's
//! Free/Starter figure) with batches of 100 contacts. The fastest any client can send
//! R admitted requests under that window is (⌈R / limit⌉ − 1) × 10 s after the first
//! (its first window's calls sent at once); the bench prints the records/s as a
//! share of the limit's sustained maximum (limit × 100 records per 10 s) and that
//! stricter ratio (minimum over time taken). Also counts the 429s
//! the sandbox served during the run (target: none after warm-up; the client starts
//! with no configured limit and learns it from `X-HubSpot-RateLimit-*`).
//! Size: `LOCKSTEP_BENCH_ROWS` (default 100,000 contacts = 1,000 calls).
//! Run: `cargo bench --bench sync_throughput`. Target: ≥ 95% of the limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Decimal128Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lockstep::config::{Project, Secret};
use lockstep::connectors::hubspot;
use lockstep::diff::{Mapped, Mode, SyncSpec};
use lockstep::sandbox::{Sandbox, SandboxConfig};
use lockstep::sink::{self, SyncOptions};
use lockstep::warehouse::{TableName, Warehouse};

mod common;

/// Contacts per HubSpot batch call (the sink's batch size).
const BATCH: u64 = 100;
use common::env_u64 as env;

fn main() -> anyhow::Result<()> {
    lockstep::alloc::tune();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let rows = env("LOCKSTEP_BENCH_ROWS", 100_000) as usize;
        let limit = env("LOCKSTEP_BENCH_LIMIT", 100);
        let mut cfg = SandboxConfig::default();
        cfg.generator.customers = 10;
        cfg.generator.orders = 10;
        cfg.hubspot.requests_per_10s = limit as u32;
        cfg.request_log_capacity = 100_000;
        let handle = Sandbox::start(cfg).await?;

        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("lockstep.toml"), "[warehouse]\nurl = \"file://./warehouse\"\n")?;
        std::fs::create_dir_all(dir.path().join("models"))?;
        let project = Project::load(dir.path())?;
        let warehouse = Warehouse::for_project(&project)?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("email", DataType::Utf8, false),
            Field::new("total_spent", DataType::Decimal128(18, 2), false),
            Field::new("orders_count", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("bench{i}@sync.test")))),
                Arc::new(Decimal128Array::from_iter_values((0..rows).map(|i| 1000 + i as i128)).with_precision_and_scale(18, 2)?),
                Arc::new(Int64Array::from_iter_values((0..rows).map(|i| (i % 7) as i64))),
            ],
        )?;
        warehouse.overwrite(&TableName::new("models", "people")?, schema, vec![batch]).await?;
        let spec = SyncSpec {
            name: "bench_contacts".into(),
            model: "people".into(),
            object: "contacts".into(),
            key_column: "email".into(),
            key_field: "email".into(),
            fields: ["orders_count", "total_spent"]
                .iter()
                .map(|f| Mapped { field: f.to_string(), column: f.to_string() })
                .collect(),
            mode: Mode::UpdateOrCreate,
        };
        let client = hubspot::Client::new(
            "hubspot destination 'bench'".into(),
            handle.base_url.clone(),
            Secret::from_value("HUBSPOT_TOKEN", &handle.credentials.hubspot_token),
            None,
        )?;
        let dest = Arc::new(hubspot::sink::ContactsSink::new("bench", client, spec.clone()));
        handle.log.reset();
        let t = Instant::now();
        let outcome = sink::sync(&project, &warehouse, &spec, dest, SyncOptions::default()).await?;
        let secs = t.elapsed().as_secs_f64();
        let run = &outcome.run;
        let log = handle.log.to_json(100_000);
        let mut by_status: BTreeMap<u64, u64> = BTreeMap::new();
        for e in log["recent"].as_array().into_iter().flatten() {
            *by_status.entry(e["status"].as_u64().unwrap_or(0)).or_insert(0) += 1;
        }
        // The limit counts admitted calls; a call answered 429 is repeated.
        let requests = run.api.requests;
        let admitted = requests - run.api.throttled;
        let minimum = (admitted.div_ceil(limit).saturating_sub(1) * 10) as f64;
        let apply = run.seconds;
        // The limit's maximum rate: `limit` calls of `BATCH` records every 10 s.
        let sustained = (limit * BATCH) as f64 / 10.0;
        println!(
            "sync_throughput: {} contacts in {requests} calls, limit {limit}/10s; apply {apply:.1}s (whole sync {secs:.1}s) = {:.0} records/s \
             = {:.1}% of the limit's sustained {:.0} records/s; fastest possible for this run (its first window sent at once) {minimum:.0}s → {:.1}%; \
             429s served: {}, answers by status {by_status:?}",
            run.acked,
            run.acked as f64 / apply,
            100.0 * run.acked as f64 / apply.max(1e-9) / sustained,
            sustained,
            100.0 * minimum / apply.max(1e-9),
            log["throttled_429"]
        );
        handle.shutdown().await;
        Ok(())
    })
}
