//! `lockstep compile`: the resolved model graph (build order, what each model reads)
//! and each model's final SQL after `ref()`/`source()` rewriting. Nothing runs.

use std::path::Path;

use crate::config::Project;
use crate::model::{self, describe};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Print one JSON array of models.
    #[arg(long)]
    pub json: bool,
}

/// Run the verb.
pub async fn run(project: &Path, args: CompileArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let set = model::load(&project, &warehouse).await?;
    let compiled = describe::compile(&set);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&compiled)?);
        return Ok(());
    }
    if compiled.is_empty() {
        println!("no models in {}", project.models_dir().display());
        return Ok(());
    }
    println!("build order:");
    for (i, m) in compiled.iter().enumerate() {
        let mut reads: Vec<String> = m.depends_on.iter().map(|d| format!("models.{d}")).collect();
        reads.extend(m.sources.iter().cloned());
        let reads = if reads.is_empty() {
            String::new()
        } else {
            format!("  <- {}", reads.join(", "))
        };
        println!(
            "{:>3}. models.{} ({}, {}){reads}",
            i + 1,
            m.name,
            m.materialized.as_str(),
            m.file
        );
    }
    for m in &compiled {
        println!(
            "\n-- {} -> models.{} ({})",
            m.file,
            m.name,
            m.materialized.as_str()
        );
        println!("{}", m.sql.trim_end());
    }
    Ok(())
}
