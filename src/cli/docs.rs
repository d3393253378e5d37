//! `lockstep docs`: every model with its description, columns (type from the built
//! table or from planning, description from YAML) and tests.

use std::path::Path;

use crate::config::Project;
use crate::model::{self, describe};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep docs`.
#[derive(Debug, clap::Args)]
pub struct DocsArgs {
    /// Print one JSON array of models.
    #[arg(long)]
    pub json: bool,
}

/// Run the verb.
pub async fn run(project: &Path, args: DocsArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let set = model::load(&project, &warehouse).await?;
    let docs = describe::docs(&warehouse, &set).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&docs)?);
        return Ok(());
    }
    for d in &docs {
        println!(
            "models.{} ({}, {})",
            d.name,
            d.materialized.as_str(),
            d.file
        );
        if let Some(description) = &d.description {
            println!("  {}", description.trim());
        }
        if !d.unique_key.is_empty() {
            println!("  unique key: {}", d.unique_key.join(", "));
        }
        if !d.depends_on.is_empty() {
            println!("  reads: {}", d.depends_on.join(", "));
        }
        if let Some(note) = &d.note {
            println!("  (columns unknown: {note})");
        }
        for c in &d.columns {
            let mut line = format!("  - {} {}", c.name, c.data_type.as_deref().unwrap_or("?"));
            if let Some(description) = &c.description {
                line.push_str(&format!(": {}", description.trim()));
            }
            if !c.tests.is_empty() {
                line.push_str(&format!("  [{}]", c.tests.join(", ")));
            }
            println!("{line}");
        }
        if !d.tests.is_empty() {
            println!("  tests: {}", d.tests.join(", "));
        }
        println!();
    }
    Ok(())
}
