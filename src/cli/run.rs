//! `lockstep run` (not built yet).

use std::path::Path;

/// Arguments of `lockstep run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("`lockstep run` is not built yet")
}
