//! `lockstep backfill` (not built yet).

use std::path::Path;

/// Arguments of `lockstep backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: BackfillArgs) -> anyhow::Result<()> {
    anyhow::bail!("`lockstep backfill` is not built yet")
}
