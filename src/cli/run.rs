//! `lockstep run [--select a,+b,c+]`: build the SQL models in dependency order.
//! On a terminal a progress bar shows the model being built; otherwise (logs, CI,
//! tests) each finished model is one plain line. `--json` prints the run report.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Project;
use crate::model::{self, RunEvent};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Models to build, dbt style: `a` (just a), `+a` (a and what it reads), `a+` (a
    /// and what reads it); comma-separated or repeated. Default: all.
    #[arg(long, short = 's', value_delimiter = ',')]
    pub select: Vec<String>,
    /// Print the run report as JSON instead of per-model lines.
    #[arg(long)]
    pub json: bool,
}

/// Run the verb.
pub async fn run(project: &Path, args: RunArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let json = args.json;
    let mut on_event = |event: RunEvent<'_>| match event {
        RunEvent::Started {
            model,
            index,
            total,
        } => {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(index as u64);
                bar.set_message(format!("models.{model}"));
            }
        }
        RunEvent::Finished(result) => {
            let line = run_line(result);
            match &bar {
                Some(bar) => bar.println(line),
                None if !json => println!("{line}"),
                None => {}
            }
        }
    };
    let started = std::time::Instant::now();
    let report = model::run(&project, &warehouse, &args.select, &mut on_event).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.models.is_empty() {
        println!("no models in {}", project.models_dir().display());
    } else {
        // Wall time: models build concurrently, so their times overlap.
        let seconds = started.elapsed().as_secs_f64();
        println!("built {} model(s) in {seconds:.2}s", report.models.len());
    }
    Ok(())
}

/// One line about a built model: `ok  models.x  table  120 rows  0.31s`.
fn run_line(result: &model::ModelResult) -> String {
    let rows = result
        .rows
        .map_or_else(|| "-".to_string(), |r| format!("{r} rows"));
    format!(
        "ok  models.{:<32} {:<5} {:>14}  {:.2}s",
        result.model,
        result.materialized.as_str(),
        rows,
        result.seconds
    )
}
