//! `lockstep compile` (not built yet).

use std::path::Path;

/// Arguments of `lockstep compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: CompileArgs) -> anyhow::Result<()> {
    anyhow::bail!("`lockstep compile` is not built yet")
}
