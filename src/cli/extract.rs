//! `lockstep extract [<source>[.<stream>]]`: incremental extraction by cursor.

use std::path::Path;

use crate::config::{Project, parse_duration};
use crate::extract::run::{Mode, run as run_source};
use crate::extract::{StreamReport, incremental};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// `<source>` or `<source>.<stream>` (default: every source).
    pub target: Option<String>,
    /// Re-read window before the cursor, overriding the source's `lookback`.
    #[arg(long)]
    pub lookback: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run it.
pub async fn run(project: &Path, args: ExtractArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let (only_source, only_stream) = match args.target.as_deref() {
        Some(t) => match t.split_once('.') {
            Some((s, e)) => (Some(s.to_string()), Some(e.to_string())),
            None => (Some(t.to_string()), None),
        },
        None => (None, None),
    };
    if let Some(s) = &only_source
        && !project.config.sources.contains_key(s)
    {
        anyhow::bail!("no [sources.{s}] in lockstep.toml");
    }
    let mut all = Vec::new();
    for (name, cfg) in &project.config.sources {
        if only_source.as_ref().is_some_and(|s| s != name) {
            continue;
        }
        let lookback = args
            .lookback
            .as_deref()
            .or(cfg.lookback.as_deref())
            .map(parse_duration)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--lookback: {e}"))?;
        let mut options = incremental::Options::default();
        if let Some(l) = lookback {
            options.lookback = l;
        }
        let source = crate::connectors::source(name, cfg)?;
        let reports = run_source(
            &warehouse,
            source.as_ref(),
            only_stream.as_deref(),
            Mode::Incremental(options),
        )
        .await?;
        all.extend(reports);
    }
    print_reports(&all, args.json)
}

/// Print per-stream summaries.
pub fn print_reports(reports: &[StreamReport], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(reports)?);
        return Ok(());
    }
    for r in reports {
        let rows: Vec<String> = r.rows.iter().map(|(e, n)| format!("{e} {n}")).collect();
        let rows = if rows.is_empty() {
            "nothing new".to_string()
        } else {
            rows.join(", ")
        };
        let mut line = format!("{}: {rows} in {:.1}s", r.stream, r.seconds);
        if r.skipped > 0 {
            line.push_str(&format!(", {} already landed", r.skipped));
        }
        if r.windows_landed + r.windows_skipped > 0 {
            line.push_str(&format!(
                ", windows {} landed / {} resumed",
                r.windows_landed, r.windows_skipped
            ));
        }
        if let Some(c) = &r.cursor {
            line.push_str(&format!(", cursor {c}"));
        }
        println!("{line}");
    }
    Ok(())
}
