//! Command-line interface: one file per verb. Each verb parses its arguments, calls the
//! library and prints; errors become one line on stderr and a non-zero exit.

mod backfill;
mod compile;
mod demo;
mod docs;
mod extract;
mod init;
mod output;
mod run;
pub mod sandbox;
mod sql;
mod status;
mod sync;
mod test_cmd;
mod vacuum;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// lockstep keeps your store and your CRMs in lockstep through a warehouse.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about)]
pub struct Cli {
    /// Project directory holding lockstep.toml.
    #[arg(long, global = true, env = "LOCKSTEP_PROJECT", default_value = ".")]
    pub project: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline on the embedded sandbox and report what happened.
    Demo(demo::DemoArgs),
    /// Scaffold a new project (lockstep.toml, models/, warehouse/) that works at once.
    Init(init::InitArgs),
    /// Run SQL against the warehouse (query from the argument, or stdin when absent).
    Sql(sql::SqlArgs),
    /// Show warehouse tables: versions, row counts, last commit times.
    Status(status::StatusArgs),
    /// Run local emulators of Shopify, HubSpot and Klaviyo on 127.0.0.1.
    Sandbox(sandbox::SandboxArgs),
    /// Historical load of a source into the warehouse, resumable.
    Backfill(backfill::BackfillArgs),
    /// Incremental extraction by updated_at cursor.
    Extract(extract::ExtractArgs),
    /// Diff a sync's model against the destination's last acknowledged state and store the plan.
    Plan(sync::PlanArgs),
    /// Apply a sync: a fresh plan, or a stored one with --plan.
    Sync(sync::SyncArgs),
    /// Build the SQL models in dependency order.
    Run(run::RunArgs),
    /// Run the models' data tests.
    Test(test_cmd::TestArgs),
    /// Print the resolved model DAG and each model's final SQL.
    Compile(compile::CompileArgs),
    /// List models, their columns and tests.
    Docs(docs::DocsArgs),
    /// Delete data files only old table versions read (keeping a retention window).
    Vacuum(vacuum::VacuumArgs),
}

/// The lockstep.toml that `lockstep init` writes.
pub fn init_template() -> &'static str {
    init::TEMPLATE
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes joined, so the user sees what and where.
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(&cli.project, args).await,
        Command::Init(args) => init::run(&cli.project, args).await,
        Command::Sql(args) => sql::run(&cli.project, args).await,
        Command::Status(args) => status::run(&cli.project, args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Backfill(args) => backfill::run(&cli.project, args).await,
        Command::Extract(args) => extract::run(&cli.project, args).await,
        Command::Plan(args) => sync::run_plan(&cli.project, args).await,
        Command::Sync(args) => sync::run_sync(&cli.project, args).await,
        Command::Run(args) => run::run(&cli.project, args).await,
        Command::Test(args) => test_cmd::run(&cli.project, args).await,
        Command::Compile(args) => compile::run(&cli.project, args).await,
        Command::Docs(args) => docs::run(&cli.project, args).await,
        Command::Vacuum(args) => vacuum::run(&cli.project, args).await,
    }
}

/// Render an error and its causes as one line, skipping causes already contained in
/// the message above them.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LOCKSTEP_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
