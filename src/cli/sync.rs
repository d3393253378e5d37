//! `lockstep plan <sync>` and `lockstep sync <sync> [--plan ID] [--dry-run]`: diff a
//! model against what the destination acknowledged last, store the plan, and apply
//! it. Plans, runs, per-row results and rejects are warehouse tables (`syncs.*`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Project;
use crate::diff::{Plan, SyncSpec};
use crate::sink::{self, ApplyOptions, Destination, SyncOptions};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sync (`[syncs.<name>]`).
    pub sync: String,
    /// Rows of the plan to print.
    #[arg(long, default_value_t = 10)]
    pub sample: usize,
    /// Print the plan header and sample as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `lockstep sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The sync (`[syncs.<name>]`).
    pub sync: String,
    /// Apply this stored plan (from `lockstep plan`) instead of a fresh diff.
    #[arg(long)]
    pub plan: Option<String>,
    /// Plan and report, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The project, its warehouse and the spec of sync `name`.
fn open(project: &Path, name: &str) -> anyhow::Result<(Project, Warehouse, SyncSpec)> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let cfg = project.config.syncs.get(name).with_context(|| {
        let known: Vec<&String> = project.config.syncs.keys().collect();
        format!("no [syncs.{name}] in lockstep.toml (defined: {known:?})")
    })?;
    let spec = SyncSpec::from_config(name, cfg);
    Ok((project, warehouse, spec))
}

/// The destination sync `name` writes to.
pub fn destination(
    project: &Project,
    name: &str,
    spec: &SyncSpec,
) -> anyhow::Result<Arc<dyn Destination>> {
    let cfg = &project.config.syncs[name];
    let dest_name = cfg.destination.get_ref();
    let endpoint = project
        .config
        .destinations
        .get(dest_name)
        .with_context(|| format!("no [destinations.{dest_name}]"))?;
    Ok(crate::connectors::destination(
        dest_name,
        endpoint,
        spec.clone(),
    )?)
}

fn sample(plan: &Plan, n: usize) -> Vec<serde_json::Value> {
    plan.changes
        .iter()
        .take(n)
        .map(|c| serde_json::json!({"op": c.op, "key": c.key, "values": plan.values_json(c)}))
        .collect()
}

fn counts_line(plan: &Plan) -> String {
    let c = &plan.counts;
    format!(
        "{} rows in models.{}: {} create, {} update, {} delete, {} unchanged{}",
        c.model_rows,
        plan.model,
        c.creates,
        c.updates,
        c.deletes,
        c.unchanged,
        if c.skipped > 0 {
            format!(", {} changed but not sent (create_only)", c.skipped)
        } else {
            String::new()
        }
    )
}

/// Run `lockstep plan`.
pub async fn run_plan(project: &Path, args: PlanArgs) -> anyhow::Result<()> {
    let (project, warehouse, spec) = open(project, &args.sync)?;
    let plan = sink::plan(&project, &warehouse, &spec).await?;
    if args.json {
        let mut v = serde_json::to_value(&plan)?;
        v["sample"] = serde_json::Value::Array(sample(&plan, args.sample));
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("plan {} for sync {}", plan.id, plan.sync);
    println!("{}", counts_line(&plan));
    for row in sample(&plan, args.sample) {
        println!("  {row}");
    }
    if !plan.changes.is_empty() {
        println!(
            "apply it with: lockstep sync {} --plan {}",
            plan.sync, plan.id
        );
    }
    Ok(())
}

/// Run `lockstep sync`.
pub async fn run_sync(project: &Path, args: SyncArgs) -> anyhow::Result<()> {
    let (project, warehouse, spec) = open(project, &args.sync)?;
    let dest = destination(&project, &args.sync, &spec)?;
    let options = SyncOptions {
        plan_id: args.plan.clone(),
        apply: ApplyOptions {
            dry_run: args.dry_run,
            ..ApplyOptions::default()
        },
    };
    let outcome = sink::sync(&project, &warehouse, &spec, dest, options).await?;
    let run = &outcome.run;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        println!(
            "sync {} plan {}: {}",
            run.sync,
            run.plan_id,
            counts_line(&outcome.plan)
        );
        if outcome.already_delivered > 0 {
            println!(
                "  {} row(s) of this plan were delivered by an earlier run",
                outcome.already_delivered
            );
        }
        if run.dry_run {
            for row in sample(&outcome.plan, 10) {
                println!("  would send {row}");
            }
        } else {
            println!(
                "  {} acknowledged, {} rejected; {} API calls, {} × 429, {} retries; {:.2}s",
                run.acked,
                run.rejected,
                run.api.requests,
                run.api.throttled,
                run.api.retries,
                run.seconds
            );
            for (key, reason) in &run.sample_rejects {
                println!("  rejected {key}: {reason}");
            }
            if run.rejected > 0 {
                println!(
                    "  all rejects: lockstep sql \"SELECT * FROM syncs.rejects WHERE run_id = '{}'\"",
                    run.run_id
                );
            }
        }
    }
    if let Some(error) = &run.error {
        anyhow::bail!(
            "sync {} stopped after {} acknowledged row(s): {error}; run it again to continue",
            run.sync,
            run.acked
        );
    }
    Ok(())
}
