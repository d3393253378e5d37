//! `lockstep test` (not built yet).

use std::path::Path;

/// Arguments of `lockstep test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {}

/// Run the verb.
pub async fn run(_project: &Path, _args: TestArgs) -> anyhow::Result<()> {
    anyhow::bail!("`lockstep test` is not built yet")
}
