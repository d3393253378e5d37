//! `lockstep backfill <source> [--entity E] --from DATE [--to DATE]`: resumable
//! historical load in windows.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Project, parse_duration};
use crate::extract::backfill;
use crate::extract::run::{Mode, run as run_source};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The source (`[sources.<name>]`).
    pub source: String,
    /// Only this stream (customers, orders, products, inventory_levels, contacts, profiles).
    #[arg(long)]
    pub entity: Option<String>,
    /// Start: a date (`2024-01-01`) or an RFC 3339 time.
    #[arg(long)]
    pub from: String,
    /// End (exclusive; default now).
    #[arg(long)]
    pub to: Option<String>,
    /// Window length (e.g. `30d`); failing windows are halved.
    #[arg(long, default_value = "30d")]
    pub window: String,
    /// Page the platform's list API instead of its bulk export (Shopify), e.g. when
    /// bulk operations are unavailable to the app.
    #[arg(long)]
    pub paging: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("{flag} {text:?}: expected a date like 2024-01-01 or an RFC 3339 time")
    })?;
    Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// Run it.
pub async fn run(project: &Path, args: BackfillArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let cfg = project
        .config
        .sources
        .get(&args.source)
        .with_context(|| format!("no [sources.{}] in lockstep.toml", args.source))?;
    let from = parse_time("--from", &args.from)?;
    let to = match &args.to {
        Some(t) => parse_time("--to", t)?,
        None => Utc::now(),
    };
    let window = parse_duration(&args.window).map_err(|e| anyhow::anyhow!("--window: {e}"))?;
    let window = chrono::Duration::from_std(window).context("--window is too large")?;
    let options = backfill::Options {
        from,
        to,
        window,
        min_window: chrono::Duration::hours(1),
        bulk: !args.paging,
    };
    let warehouse = Warehouse::for_project(&project)?;
    let source = crate::connectors::source(&args.source, cfg)?;
    let reports = run_source(
        &warehouse,
        source.as_ref(),
        args.entity.as_deref(),
        Mode::Backfill(options),
    )
    .await?;
    super::extract::print_reports(&reports, args.json)
}
