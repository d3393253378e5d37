//! `lockstep demo`: the pipeline end to end on the embedded sandbox.

use std::path::{Path, PathBuf};

use crate::demo::{DemoOptions, DemoReport, run as run_demo};

/// Arguments of `lockstep demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Customers in the generated store.
    #[arg(long, default_value_t = 2_000)]
    pub customers: usize,
    /// Orders in the generated store.
    #[arg(long, default_value_t = 10_000)]
    pub orders: usize,
    /// Generator seed (same seed, same store).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Project directory to create (default: a new folder under the temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Models to build (default: ./models when it exists).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Run it and print the report.
pub async fn run(_project: &Path, args: DemoArgs) -> anyhow::Result<()> {
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lockstep-demo-{}", uuid::Uuid::now_v7()))
    });
    let models = args.models.or_else(|| {
        Path::new("models")
            .is_dir()
            .then(|| PathBuf::from("models"))
    });
    let options = DemoOptions {
        seed: args.seed,
        customers: args.customers,
        orders: args.orders,
        dir,
        models,
    };
    if !args.json {
        eprintln!(
            "lockstep demo: sandbox store of {} customers / {} orders (seed {}) → {}",
            options.customers,
            options.orders,
            options.seed,
            options.dir.display()
        );
    }
    let report = run_demo(&options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

fn text(r: &DemoReport) -> String {
    let mut out = String::new();
    out.push_str("\nextracted\n");
    for s in &r.extracted {
        let rows: u64 = s.rows.values().sum();
        out.push_str(&format!(
            "  {:<5} {rows:>8} rows in {:>5.1}s  {} API calls, {} × 429, {} retries\n",
            s.source, s.seconds, s.api.requests, s.api.throttled, s.api.retries
        ));
        for (table, n) in &s.rows {
            out.push_str(&format!("        {table:<32} {n:>8}\n"));
        }
    }
    out.push_str(&format!("models built: {}\n", r.models.len()));
    for m in &r.models {
        let rows = m.rows.map_or("view".to_string(), |n| format!("{n} rows"));
        out.push_str(&format!(
            "  models.{:<28} {rows:>12} {:>6.2}s\n",
            m.model, m.seconds
        ));
    }
    if r.tests.run > 0 {
        out.push_str(&format!(
            "data tests: {} run, {} failed\n",
            r.tests.run, r.tests.failed
        ));
    }
    if !r.syncs.is_empty() {
        out.push_str("synced\n");
    }
    for s in &r.syncs {
        let p = &s.planned;
        out.push_str(&format!(
            "  {:<18} → {:<30} {} acked, {} rejected ({} create, {} update, {} delete) in {:.1}s  {} API calls, {} × 429, {} retries\n",
            s.sync, s.destination, s.acked, s.rejected, p.creates, p.updates, p.deletes, s.seconds,
            s.api.requests, s.api.throttled, s.api.retries
        ));
    }
    let fidelity = |label: &str, f: &Option<crate::audit::Fidelity>| {
        f.as_ref().map(|f| {
            format!(
                "record fidelity {label}: {:.1}% ({} of {} customers match on spend, last order date, order count and primary tag; {} in the CRM)\n",
                f.percent, f.matched, f.sampled, f.in_crm
            )
        })
    };
    out.extend(fidelity("before sync", &r.fidelity_before));
    out.extend(fidelity("after sync ", &r.fidelity_after));
    if let Some(calls) = r.resync_write_calls {
        out.push_str(&format!(
            "second sync of the unchanged model: {calls} write calls\n"
        ));
    }
    out.push_str(&format!(
        "sandbox served {} requests, {} of them 429\ndone in {:.1}s; explore: lockstep --project {} sql \"SELECT count(*) FROM raw_shop.orders\"\n",
        r.requests_served, r.throttled_served, r.seconds, r.project
    ));
    out
}
