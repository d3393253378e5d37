//! `lockstep vacuum [--retain 7d] [--dry-run] [table ...]`: delete data files that
//! only old table versions read. `lockstep run` already does this for the models it
//! builds (`warehouse.model_retention`); this verb covers every table, on demand.

use std::path::Path;

use anyhow::Context;

use crate::config::{Project, parse_duration};
use crate::warehouse::{TableName, Warehouse};

/// Arguments of `lockstep vacuum`.
#[derive(Debug, clap::Args)]
pub struct VacuumArgs {
    /// Keep versions replaced less than this long ago readable (`90s`, `15m`, `2h`,
    /// `7d`). Delta's own default is a week.
    #[arg(long, default_value = "7d")]
    pub retain: String,
    /// Count the files that would go; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Tables to vacuum (`models.orders_fx`, `raw_shop.orders`); default: every table.
    pub tables: Vec<String>,
}

/// Vacuum the tables and print one line per table that had files to delete.
pub async fn run(project: &Path, args: VacuumArgs) -> anyhow::Result<()> {
    let retain = parse_duration(&args.retain).map_err(|e| anyhow::anyhow!("--retain: {e}"))?;
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let tables = if args.tables.is_empty() {
        warehouse.list_tables().await?
    } else {
        args.tables
            .iter()
            .map(|t| TableName::parse(t).with_context(|| format!("table {t:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut total = 0;
    for table in &tables {
        let done = warehouse.vacuum(table, retain, args.dry_run).await?;
        if done.files_deleted > 0 {
            println!("{table}: {verb} {} file(s)", done.files_deleted);
        }
        total += done.files_deleted;
    }
    println!(
        "{} table(s) vacuumed, {total} file(s) {verb}, versions of the last {} kept",
        tables.len(),
        args.retain
    );
    Ok(())
}
