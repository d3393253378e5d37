//! `lockstep status`.

use std::path::Path;

/// Arguments of `lockstep status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: StatusArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
