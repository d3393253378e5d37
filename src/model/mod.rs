//! The SQL model engine (issue 5): analytics engineers write `models/**/*.sql`, one
//! SELECT per file; lockstep finds the tables each reads (parsing the SQL, so plain
//! names work; `{{ ref() }}`/`{{ source() }}` are sugar), builds them in dependency
//! order into `models.<name>` Delta tables, and runs the data tests declared in
//! dbt-style YAML beside them. See `docs/models.md` for the user's view.
//!
//! Pipeline: [`project`] discovers files and resolves references, [`dag`] orders
//! and selects, [`materialize`] builds (computing views several table models read
//! once per run, see `shared_views`), [`data_tests`] checks and records results,
//! [`udf`] holds the functions models can call.
//!
//! Entry points for other modules (syncs, demo, CLI):
//! - [`load`] — the project's models, resolved against the warehouse;
//! - [`run`] — build all or a selection;
//! - [`test`] — run data tests and record them in `meta.test_results`;
//! - [`failed_upstream`] / [`tests_passing`] — the sync gate: a failed test on a
//!   model blocks every sync that reads from it.

pub mod dag;
pub mod data_tests;
pub mod describe;
mod error;
mod hash_once;
mod held_rows;
mod latest_row;
pub mod materialize;
pub mod project;
pub mod properties;
pub mod references;
mod row_number;
mod schedule;
pub mod seeds;
pub mod session;
mod shared_views;
pub mod sql_ref;
pub mod udf;
mod used_columns;

use std::collections::BTreeSet;

pub use data_tests::{FailedTest, TestOutcome, TestReport, failed_upstream, tests_passing};
pub use error::{ModelError, Result};
pub use materialize::{ModelResult, RunEvent, RunReport};
pub use project::{Model, ModelSet, Read, Target};
pub use properties::{Materialized, ModelProperties, TestSpec};

use crate::config::Project;
use crate::warehouse::Warehouse;

/// The models of `project`, resolved against the tables in `warehouse`.
pub async fn load(project: &Project, warehouse: &Warehouse) -> Result<ModelSet> {
    let existing: BTreeSet<_> = warehouse.list_tables().await?.into_iter().collect();
    ModelSet::load(project, &existing)
}

/// Build the models selected by dbt-style `select` terms (empty = all), reporting
/// progress through `on_event`.
pub async fn run(
    project: &Project,
    warehouse: &Warehouse,
    select: &[String],
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<RunReport> {
    seeds::load(warehouse, &project.models_dir()).await?;
    let set = load(project, warehouse).await?;
    let selected = set.select(select)?;
    let report = materialize::build(warehouse, &set, &selected, on_event).await?;
    vacuum_built(warehouse, &set, &report, project.model_retention()).await;
    Ok(report)
}

/// Delete the data files of the versions this run replaced once they are older than
/// `retain`: each build rewrites the whole table, so otherwise every run leaves a
/// full copy behind. The models are built by then; a failure here is logged, not
/// the run's (the next run tries again).
async fn vacuum_built(
    warehouse: &Warehouse,
    set: &ModelSet,
    report: &RunReport,
    retain: std::time::Duration,
) {
    let tables = report
        .models
        .iter()
        .filter(|r| r.materialized == Materialized::Table)
        .filter_map(|r| set.get(&r.model).and_then(|m| m.table().ok()));
    // Each is a log read and a listing: done together, not one after another.
    let vacuums = tables.map(|table| async move {
        if let Err(e) = warehouse.vacuum(&table, retain, false).await {
            tracing::warn!(table = %table, error = %e, "Could not vacuum the model's replaced versions.");
        }
    });
    futures::future::join_all(vacuums).await;
}

/// Run the data tests of the selected models (empty = all) and record the results.
pub async fn test(
    project: &Project,
    warehouse: &Warehouse,
    select: &[String],
) -> Result<TestReport> {
    let set = load(project, warehouse).await?;
    let selected = set.select(select)?;
    data_tests::run(warehouse, &set, &selected).await
}
