//! Benchmark (issue #5): build every default model (`models/`) over a generated store
//! of 1M orders / 100k customers (`LOCKSTEP_BENCH_ORDERS`, `LOCKSTEP_BENCH_CUSTOMERS`;
//! 10M / 1M is the second size), and report the wall time and peak memory of
//! the build alone, then the time per model.
//!
//! The raw tables are what an extraction lands: Shopify records are rendered by the
//! sandbox exactly as its REST API serves them and unrolled by the connector's own
//! `rest::unit` (no HTTP, so that preparing 10M orders takes minutes, not hours);
//! HubSpot contacts and Klaviyo profiles are extracted from the sandbox over HTTP.
//! The peak-RSS high-water mark is reset once the data is landed and the sandbox's
//! store dropped, so the figure covers the build.
//! Run: `cargo bench --bench model_build`. Targets: ≤ 5 s at 1M, ≤ 50 s at 10M.

use std::collections::BTreeMap;
use std::time::Instant;

use lockstep::config::{Project, Secret};
use lockstep::connectors::shopify::rest::{Resource, unit};
use lockstep::connectors::{hubspot, klaviyo};
use lockstep::extract::columns::{Stamp, to_batch};
use lockstep::extract::run::{Mode, run as extract};
use lockstep::extract::{EntitySchema, Source, incremental};
use lockstep::sandbox::shopify::render;
use lockstep::sandbox::{Sandbox, SandboxConfig};
use lockstep::warehouse::{TableName, Warehouse};
use serde_json::Value;

mod common;
use common::{env_usize, peak_mib, reset_peak};

/// Orders rendered and landed per commit.
const CHUNK: usize = 25_000;

/// Land `records` of `resource` into `raw_shop.*`, one append per entity.
async fn land(
    warehouse: &Warehouse,
    resource: Resource,
    records: Vec<Value>,
) -> anyhow::Result<()> {
    let mut by_entity: BTreeMap<&str, (&EntitySchema, Vec<Value>)> = BTreeMap::new();
    for record in records {
        let u = unit(resource, record).map_err(anyhow::Error::msg)?;
        for (schema, row) in u.rows {
            by_entity
                .entry(schema.entity)
                .or_insert_with(|| (schema, Vec::new()))
                .1
                .push(row);
        }
    }
    let stamp = Stamp {
        source_name: "shop",
        extracted_at_us: chrono::Utc::now().timestamp_micros(),
        batch_id: "bench",
    };
    for (entity, (schema, rows)) in by_entity {
        let refs: Vec<&Value> = rows.iter().collect();
        let batch = to_batch(schema, &refs, &stamp)?;
        warehouse
            .append(
                &TableName::new("raw_shop", entity)?,
                schema.arrow_schema(),
                vec![batch],
            )
            .await?;
    }
    Ok(())
}

/// Every Shopify resource of the sandbox's store, rendered as its REST API would.
async fn land_shop(
    warehouse: &Warehouse,
    handle: &lockstep::sandbox::SandboxHandle,
) -> anyhow::Result<usize> {
    let (customers, products, inventory) = handle.shopify.read(|s| {
        (
            s.customers
                .iter()
                .map(|c| render::customer_json(s, c))
                .collect::<Vec<_>>(),
            s.products
                .iter()
                .map(render::product_json)
                .collect::<Vec<_>>(),
            s.inventory
                .iter()
                .map(render::inventory_json)
                .collect::<Vec<_>>(),
        )
    });
    land(warehouse, Resource::Customers, customers).await?;
    land(warehouse, Resource::Products, products).await?;
    land(warehouse, Resource::InventoryLevels, inventory).await?;
    let total = handle.shopify.read(|s| s.orders.len());
    for start in (0..total).step_by(CHUNK) {
        let orders = handle.shopify.read(|s| {
            s.orders[start..(start + CHUNK).min(total)]
                .iter()
                .map(|o| render::order_json(s, o))
                .collect::<Vec<_>>()
        });
        land(warehouse, Resource::Orders, orders).await?;
    }
    Ok(total)
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let orders = env_usize("LOCKSTEP_BENCH_ORDERS", 1_000_000);
        let customers = env_usize("LOCKSTEP_BENCH_CUSTOMERS", 100_000);
        let t = Instant::now();
        let mut cfg = SandboxConfig::default();
        cfg.generator.customers = customers;
        cfg.generator.orders = orders;
        cfg.shopify.bucket.size = 0;
        cfg.hubspot.requests_per_10s = 0;
        cfg.klaviyo.burst_scale = 0.0;
        cfg.klaviyo.steady_scale = 0.0;
        let handle = Sandbox::start(cfg).await?;

        let dir = tempfile::tempdir()?;
        let models = std::path::absolute(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))?;
        std::fs::write(
            dir.path().join("lockstep.toml"),
            format!("[project]\nname = \"bench\"\nmodels_dir = {:?}\n\n[warehouse]\nurl = \"file://./warehouse\"\n", models.display().to_string()),
        )?;
        let project = Project::load(dir.path())?;
        let warehouse = Warehouse::for_project(&project)?;
        let landed = land_shop(&warehouse, &handle).await?;
        let crm: Vec<Box<dyn Source>> = vec![
            Box::new(hubspot::HubSpotSource::new(
                "hubspot",
                hubspot::Client::new("hubspot source 'hubspot'".into(), handle.base_url.clone(), Secret::from_value("HUBSPOT_TOKEN", &handle.credentials.hubspot_token), None)?,
            )),
            Box::new(klaviyo::KlaviyoSource::new(
                "klaviyo",
                klaviyo::Client::new("klaviyo source 'klaviyo'".into(), handle.base_url.clone(), Secret::from_value("KLAVIYO_API_KEY", &handle.credentials.klaviyo_api_key), klaviyo::client::REVISION.into())?,
            )),
        ];
        for source in &crm {
            extract(&warehouse, source.as_ref(), None, Mode::Incremental(incremental::Options::default())).await?;
        }
        println!(
            "prepared: {landed} orders, {customers} customers, {} contacts, {} profiles landed in {:.1}s",
            handle.seed_contacts,
            handle.seed_profiles,
            t.elapsed().as_secs_f64()
        );
        handle.shutdown().await;
        drop(crm);

        reset_peak();
        let t = Instant::now();
        let report = lockstep::model::run(&project, &warehouse, &[], &mut |_| {}).await?;
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_mib();
        println!("model_build: {} models over {landed} orders / {customers} customers in {secs:.2}s; peak RSS {peak:.0} MiB", report.models.len());
        for m in &report.models {
            println!("  {:<28} {:>10} rows {:>8.2}s", m.model, m.rows.map_or("view".into(), |r| r.to_string()), m.seconds);
        }
        Ok(())
    })
}
