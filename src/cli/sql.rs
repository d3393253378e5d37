//! `lockstep sql`.

use std::path::Path;

/// Arguments of `lockstep sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: SqlArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
