//! `lockstep status`: what the warehouse holds.

use std::path::Path;

use crate::config::Project;
use crate::warehouse::{TableInfo, Warehouse};

/// Arguments of `lockstep status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Print every table with its version, rows, files and last commit.
pub async fn run(project: &Path, args: StatusArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let mut tables = Vec::new();
    for name in warehouse.list_tables().await? {
        tables.push(warehouse.info(&name).await?);
    }
    if args.json {
        let report = serde_json::json!({
            "warehouse": warehouse.location().root_url().as_str(),
            "tables": tables,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("warehouse {}", warehouse.location().root_url());
    if tables.is_empty() {
        println!("(no tables yet)");
        return Ok(());
    }
    print!("{}", table(&tables));
    Ok(())
}

fn table(tables: &[TableInfo]) -> String {
    let header = [
        "table",
        "version",
        "rows",
        "files",
        "size",
        "last commit",
        "operation",
    ];
    let rows: Vec<[String; 7]> = tables
        .iter()
        .map(|t| {
            [
                t.table.clone(),
                t.version.to_string(),
                t.rows.to_string(),
                t.files.to_string(),
                human_bytes(t.bytes),
                t.last_commit
                    .map(|c| c.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| "-".into()),
                t.last_operation.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(&header.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
