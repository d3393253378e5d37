//! `lockstep init [DIR]`: scaffold a project that works at once — a documented
//! lockstep.toml (warehouse in ./warehouse, every connector commented out until its
//! credentials exist), a models/ folder, and a .gitignore that keeps the warehouse
//! out of version control.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{FILE_NAME, Project};
use crate::warehouse::Warehouse;

/// Arguments of `lockstep init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create the project in (default: the --project directory).
    pub dir: Option<PathBuf>,
}

/// The file `init` writes; kept in sync with the README's configuration reference.
pub const TEMPLATE: &str = include_str!("init_template.toml");

/// Create the project.
pub async fn run(project: &Path, args: InitArgs) -> anyhow::Result<()> {
    let dir = args.dir.unwrap_or_else(|| project.to_path_buf());
    let file = dir.join(FILE_NAME);
    if file.exists() {
        anyhow::bail!("{} already exists; not overwriting it", file.display());
    }
    std::fs::create_dir_all(dir.join("models"))
        .with_context(|| format!("creating {}", dir.join("models").display()))?;
    std::fs::write(&file, TEMPLATE).with_context(|| format!("writing {}", file.display()))?;
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        std::fs::write(&gitignore, "/warehouse\n")
            .with_context(|| format!("writing {}", gitignore.display()))?;
    }
    // Prove the scaffold loads and its warehouse opens before telling the user so.
    let loaded = Project::load(&dir)?;
    let warehouse = Warehouse::for_project(&loaded)?;
    println!("created {}", file.display());
    println!("warehouse {}", warehouse.location().root_url());
    println!(
        "next: edit {FILE_NAME}, then `lockstep --project {} status`",
        dir.display()
    );
    Ok(())
}
