//! `lockstep extract` (not built yet).

use std::path::Path;

/// Arguments of `lockstep extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: ExtractArgs) -> anyhow::Result<()> {
    anyhow::bail!("`lockstep extract` is not built yet")
}
