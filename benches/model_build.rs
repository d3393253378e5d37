//! Benchmark (issue #5): build every default model (`models/`) over a generated store
//! of 1M orders / 100k customers (`LOCKSTEP_BENCH_ORDERS`, `LOCKSTEP_BENCH_CUSTOMERS`;
//! 10M / 1M is the second size), and report the wall time and peak memory of
//! the build alone, then the time per model.
//!
//! The raw tables are what an extraction lands: Shopify orders and customers are
//! backfilled from the sandbox through Bulk Operations over HTTP (products and
//! inventory rendered as REST JSON and unrolled by `rest::unit`); HubSpot contacts
//! and Klaviyo profiles are extracted from the sandbox over HTTP.
//! Once the data is landed, the build runs in a child process over the prepared
//! warehouse, so the peak-RSS figure covers the build alone.
//! Run: `cargo bench --bench model_build`. Targets: ≤ 5 s at 1M, ≤ 50 s at 10M.
//! With `LOCKSTEP_BENCH_MODEL_DIR=/some/dir` the project and warehouse are kept
//! there: the first run prepares them, later runs only build (the models are read
//! from this checkout's `models/` each time, or from `LOCKSTEP_BENCH_MODELS`, so SQL
//! edits need no recompile).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use lockstep::config::Project;
use lockstep::connectors::shopify::rest::{Resource, unit};
use lockstep::extract::columns::{Stamp, to_batch};
use lockstep::extract::run::{Mode, run as extract};
use lockstep::extract::{EntitySchema, incremental};
use lockstep::sandbox::shopify::render;
use lockstep::sandbox::{Sandbox, SandboxConfig};
use lockstep::warehouse::{TableName, Warehouse};
use serde_json::Value;

mod common;
use common::{
    HandedOverDir, cpu_secs, env_usize, minor_faults, peak_mib, reset_peak, rss_mib, run_child,
    shopify_source, shopify_unlimited, store_history,
};

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

/// Every Shopify resource of the sandbox's store. Orders (with their line items,
/// refunds and the rest) and customers are backfilled the way an operator would,
/// through the sandbox's GraphQL Bulk Operations over HTTP (minutes at 10M orders;
/// rendering and unrolling each record as REST JSON took ~15 min per million);
/// products and inventory levels, a few thousand records, are rendered as the REST
/// API would and unrolled by the connector's own `rest::unit`.
async fn land_shop(
    warehouse: &Warehouse,
    handle: &lockstep::sandbox::SandboxHandle,
) -> anyhow::Result<usize> {
    let (products, inventory) = handle.shopify.read(|s| {
        (
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
    land(warehouse, Resource::Products, products).await?;
    land(warehouse, Resource::InventoryLevels, inventory).await?;
    let source = shopify_source(handle)?;
    let options = store_history(true)?;
    let source = &source;
    let backfill = |stream: &'static str| async move {
        let t = Instant::now();
        let reports = extract(warehouse, source, Some(stream), Mode::Backfill(options)).await?;
        let rows = reports.first().map(|r| r.rows.clone()).unwrap_or_default();
        println!("backfilled {rows:?} in {:.1}s", t.elapsed().as_secs_f64());
        anyhow::Ok(rows)
    };
    let orders = backfill("orders").await?;
    backfill("customers").await?;
    Ok(usize::try_from(orders.get("orders").copied().unwrap_or(0))?)
}

/// Where the project and warehouse are kept between runs (and where the child
/// process that builds finds them).
const MODEL_DIR_ENV: &str = "LOCKSTEP_BENCH_MODEL_DIR";

/// Marker written once a directory holds a fully landed warehouse.
const PREPARED: &str = ".prepared";

/// Write `dir/lockstep.toml`, pointing `models_dir` at this checkout's `models/`, or
/// at `LOCKSTEP_BENCH_MODELS` when set (to compare two versions of the SQL on one
/// warehouse); rewritten on every run, so a reused warehouse builds the current SQL.
fn write_project(dir: &std::path::Path) -> anyhow::Result<Project> {
    let models = match std::env::var_os("LOCKSTEP_BENCH_MODELS") {
        Some(m) => std::path::absolute(m)?,
        None => std::path::absolute(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))?,
    };
    std::fs::write(
        dir.join("lockstep.toml"),
        format!(
            "[project]\nname = \"bench\"\nmodels_dir = {:?}\n\n[warehouse]\nurl = \"file://./warehouse\"\n",
            models.display().to_string()
        ),
    )?;
    Ok(Project::load(dir)?)
}

/// Generate the sandbox's store and land it into `warehouse`; returns orders landed.
async fn prepare(warehouse: &Warehouse, orders: usize, customers: usize) -> anyhow::Result<usize> {
    let t = Instant::now();
    let mut cfg = SandboxConfig::default();
    cfg.generator.customers = customers;
    cfg.generator.orders = orders;
    shopify_unlimited(&mut cfg);
    cfg.hubspot.requests_per_10s = 0;
    cfg.klaviyo.burst_scale = 0.0;
    cfg.klaviyo.steady_scale = 0.0;
    let handle = Sandbox::start(cfg).await?;
    let landed = land_shop(warehouse, &handle).await?;
    let crm = lockstep::demo::sandbox_crm_sources(&handle)?;
    for source in &crm {
        extract(
            warehouse,
            source.as_ref(),
            None,
            Mode::Incremental(incremental::Options::default()),
        )
        .await?;
    }
    println!(
        "prepared: {landed} orders, {customers} customers, {} contacts, {} profiles landed in {:.1}s",
        handle.seed_contacts,
        handle.seed_profiles,
        t.elapsed().as_secs_f64()
    );
    handle.shutdown().await;
    Ok(landed)
}

/// `LOCKSTEP_BENCH_DIGEST=1`: print a digest of every table model's rows that does
/// not depend on row order, so a change to the engine or the SQL can be checked to
/// give the same results as before (compare the lines between two runs).
async fn digest(warehouse: &Warehouse, report: &lockstep::model::RunReport) -> anyhow::Result<()> {
    use std::hash::{Hash, Hasher};
    for m in report.models.iter().filter(|m| m.rows.is_some()) {
        let Some(df) = warehouse.scan(&TableName::new("models", &m.model)?).await? else {
            continue;
        };
        let batches = df.collect().await?;
        let (mut rows, mut sum, mut xor) = (0usize, 0u64, 0u64);
        for batch in &batches {
            let fields = batch
                .schema()
                .fields()
                .iter()
                .map(|f| arrow::row::SortField::new(f.data_type().clone()))
                .collect();
            let converter = arrow::row::RowConverter::new(fields)?;
            let converted = converter.convert_columns(batch.columns())?;
            for row in converted.iter() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                row.as_ref().hash(&mut h);
                let h = h.finish();
                sum = sum.wrapping_add(h);
                xor ^= h.rotate_left(17);
                rows += 1;
            }
        }
        println!("digest {:<28} {rows:>10} {sum:016x}{xor:016x}", m.model);
    }
    Ok(())
}

/// `LOCKSTEP_BENCH_EXPLAIN=orders_fx,golden_customers`: after the build, print
/// EXPLAIN ANALYZE of those models' queries, with the views they read defined as in
/// a run, to see where the time goes.
async fn explain(project: &Project, warehouse: &Warehouse, names: &str) -> anyhow::Result<()> {
    let set = lockstep::model::load(project, warehouse).await?;
    let ctx = lockstep::model::session::open(warehouse, set.settings()).await?;
    let wanted: BTreeSet<String> = names
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    lockstep::model::session::define_views_for(&ctx, &set, &wanted).await?;
    // `LOCKSTEP_BENCH_COMPUTE=stg_shop_orders`: hold those views' rows as a run
    // holds the views several of its table models read, so the plans are a run's.
    let computed: BTreeSet<String> = std::env::var("LOCKSTEP_BENCH_COMPUTE")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| set.get(s).is_some())
        .collect();
    // Only the explained models count as readers, as if they were the whole run,
    // with the views they read on the way (identity_graph reads the staging views
    // through identity_edges).
    let mut in_run = computed.clone();
    for name in &wanted {
        in_run.insert(name.clone());
        in_run.extend(set.ancestors(name).into_iter().filter(|a| {
            set.get(a)
                .is_some_and(|m| m.materialized() == lockstep::model::Materialized::View)
        }));
    }
    let models: Vec<_> = set
        .in_order()
        .filter(|m| in_run.contains(&m.name))
        .collect();
    let keep = lockstep::model::session::used_columns(&ctx, &models, &computed).await?;
    for view in set.in_order().filter(|m| computed.contains(&m.name)) {
        lockstep::model::session::define_computed_view(&ctx, view, keep.get(&view.name)).await?;
    }
    for name in &wanted {
        let model = set
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("no model {name}"))?;
        let t = Instant::now();
        let batches = ctx
            .sql(&format!("EXPLAIN ANALYZE {}", model.sql))
            .await?
            .collect()
            .await?;
        println!(
            "=== {name} ({:.2}s)\n{}",
            t.elapsed().as_secs_f64(),
            arrow::util::pretty::pretty_format_batches(&batches)?
        );
    }
    Ok(())
}

/// `LOCKSTEP_BENCH_TIMELINE=1`: print each model's start and end as they happen,
/// with the seconds since the build started, the CPU used so far (and the system
/// part of it), the minor page faults taken so far, the RSS now and
/// the highest RSS sampled (every 50 ms) since the previous line: where the build's
/// time and memory go when two models run at once.
struct Timeline {
    t0: Instant,
    cpu0: f64,
    sys0: f64,
    faults0: f64,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Timeline {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampled = peak.clone();
        std::thread::spawn(move || {
            loop {
                sampled.fetch_max(rss_mib() as u64, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let (u, s) = cpu_secs();
        Timeline {
            t0: Instant::now(),
            cpu0: u + s,
            sys0: s,
            faults0: minor_faults(),
            peak,
        }
    }

    fn event(&mut self, event: &lockstep::model::RunEvent<'_>) {
        use lockstep::model::RunEvent;
        let what = match event {
            RunEvent::Started { model, .. } => format!("start {model}"),
            RunEvent::Finished(r) => format!("done  {} ({:.2}s)", r.model, r.seconds),
        };
        let (u, s) = cpu_secs();
        let rss = rss_mib();
        let peak = self
            .peak
            .swap(rss as u64, std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "[{:7.2}s cpu {:7.2}s (sys {:6.2}s) faults {:5.2}M rss {:6.0} MiB peak-since {:6} MiB] {what}",
            self.t0.elapsed().as_secs_f64(),
            u + s - self.cpu0,
            s - self.sys0,
            (minor_faults() - self.faults0) / 1e6,
            rss,
            peak.max(rss as u64)
        );
    }
}

fn main() -> anyhow::Result<()> {
    lockstep::alloc::tune();
    // What a run holds in memory and for how long: RUST_LOG=lockstep::model=debug.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let _handed_over = HandedOverDir::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let orders = env_usize("LOCKSTEP_BENCH_ORDERS", 1_000_000);
        let customers = env_usize("LOCKSTEP_BENCH_CUSTOMERS", 100_000);
        // LOCKSTEP_BENCH_MODEL_DIR keeps the prepared warehouse between runs: preparing
        // takes minutes, building seconds. The sizes are those it was prepared with.
        let (tmp, dir) = match std::env::var_os(MODEL_DIR_ENV) {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                (None, std::path::PathBuf::from(d))
            }
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let project = write_project(&dir)?;
        let warehouse = Warehouse::for_project(&project)?;
        let marker = dir.join(PREPARED);
        let (landed, customers) = match std::fs::read_to_string(&marker) {
            Ok(sizes) => {
                let mut it = sizes.split_whitespace().filter_map(|s| s.parse::<usize>().ok());
                let landed = it.next().unwrap_or(orders);
                let customers = it.next().unwrap_or(customers);
                println!("reusing the warehouse prepared in {} ({landed} orders, {customers} customers)", dir.display());
                (landed, customers)
            }
            Err(_) => {
                // This process peaks near the machine's memory (see purge_at_once);
                // the timed build runs in a child with the usual options.
                lockstep::alloc::purge_at_once();
                let landed = prepare(&warehouse, orders, customers).await?;
                std::fs::write(&marker, format!("{landed} {customers}\n"))?;
                // The build runs in a process of its own: at 10M orders, what the
                // sandbox's store and the landing left mapped in this heap (~18 GB)
                // and the build's peak do not fit in the machine together.
                return run_child(MODEL_DIR_ENV, &dir, tmp.is_some());
            }
        };

        // A reused warehouse holds the model versions earlier runs wrote; left to
        // pile up they filled the disk (50 GB at 10M) and slowed every write. Kept to
        // the last run's, as a scheduled deployment's retention keeps a few; the
        // timed run then vacuums as `lockstep run` does (default retention).
        for name in warehouse.list_tables().await? {
            if name.area() == "models" {
                warehouse.vacuum(&name, std::time::Duration::ZERO, false).await?;
            }
        }

        reset_peak();
        let (user0, sys0) = cpu_secs();
        let faults0 = minor_faults();
        let t = Instant::now();
        let mut timeline = std::env::var_os("LOCKSTEP_BENCH_TIMELINE").map(|_| Timeline::start());
        let report = lockstep::model::run(&project, &warehouse, &[], &mut |event| {
            if let Some(t) = timeline.as_mut() {
                t.event(&event);
            }
        })
        .await?;
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_mib();
        let (user, sys) = cpu_secs();
        let faults = minor_faults() - faults0;
        println!("model_build: {} models over {landed} orders / {customers} customers in {secs:.2}s; peak RSS {peak:.0} MiB", report.models.len());
        // System time is mostly the kernel zeroing fresh pages (the faults) and
        // copying written files into the page cache; it swings more than user time
        // between runs on a virtual machine.
        println!(
            "model_build: cpu user {:.1}s, system {:.1}s; {:.2}M minor page faults",
            user - user0,
            sys - sys0,
            faults / 1e6
        );
        for m in &report.models {
            println!("  {:<28} {:>10} rows {:>8.2}s", m.model, m.rows.map_or("view".into(), |r| r.to_string()), m.seconds);
        }
        if std::env::var_os("LOCKSTEP_BENCH_DIGEST").is_some() {
            digest(&warehouse, &report).await?;
        }
        if let Ok(names) = std::env::var("LOCKSTEP_BENCH_EXPLAIN") {
            explain(&project, &warehouse, &names).await?;
        }
        Ok(())
    })
}
