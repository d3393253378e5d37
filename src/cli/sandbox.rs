//! `lockstep sandbox`: run the platform emulators on 127.0.0.1.

/// Arguments of `lockstep sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {}

/// Run the sandbox until interrupted.
pub async fn run(_args: SandboxArgs) -> anyhow::Result<()> {
    anyhow::bail!("the sandbox is not built yet")
}
