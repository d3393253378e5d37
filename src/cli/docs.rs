//! `lockstep docs` (not built yet).

use std::path::Path;

/// Arguments of `lockstep docs`.
#[derive(Debug, clap::Args)]
pub struct DocsArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: DocsArgs) -> anyhow::Result<()> {
    anyhow::bail!("`lockstep docs` is not built yet")
}
