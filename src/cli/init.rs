//! `lockstep init`.

use std::path::Path;

/// Arguments of `lockstep init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: InitArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
