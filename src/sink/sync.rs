//! A sync end to end: refuse to push from a model whose data tests (or those of any
//! model it reads) failed, diff the model against the snapshot into a stored plan,
//! and apply it — or apply a stored plan by id, skipping rows it already delivered
//! and refusing it when another plan has since changed the same keys.

use std::sync::Arc;

use serde::Serialize;

use super::Destination;
use super::apply::{ApplyOptions, RunReport, apply};
use crate::config::Project;
use crate::diff::snapshot::{self, KeySet};
use crate::diff::{DiffError, Plan, SyncSpec, canonical::key_hash, diff, plan as plans};
use crate::model::ModelError;
use crate::warehouse::Warehouse;

/// Why a sync could not run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Diffing or reading/writing plans failed.
    #[error(transparent)]
    Diff(#[from] DiffError),
    /// Loading the models (for the test gate) failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A data test upstream failed: pushing would spread bad data.
    #[error(
        "sync {sync} is blocked: {failures} — fix the data or the test and run `lockstep test`"
    )]
    Blocked {
        /// The sync.
        sync: String,
        /// The failing tests.
        failures: String,
    },
    /// The destination could not be built.
    #[error("{0}")]
    Destination(String),
}

/// How `sync` runs.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Apply this stored plan instead of a fresh diff.
    pub plan_id: Option<String>,
    /// Apply options (flush cadence, dry run).
    pub apply: ApplyOptions,
}

/// What a sync did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncOutcome {
    /// The plan applied.
    pub plan: Plan,
    /// Rows of the plan delivered by earlier runs and skipped now.
    pub already_delivered: u64,
    /// The run.
    pub run: RunReport,
}

/// Fail when a data test on the sync's model, or on any model it reads, failed in
/// its latest run.
pub async fn gate(
    project: &Project,
    warehouse: &Warehouse,
    spec: &SyncSpec,
) -> Result<(), SyncError> {
    let set = crate::model::load(project, warehouse).await?;
    let failed = crate::model::failed_upstream(warehouse, &set, &spec.model).await?;
    if failed.is_empty() {
        return Ok(());
    }
    let failures: Vec<String> = failed
        .iter()
        .map(|f| {
            format!(
                "{}: {} {} ({} rows)",
                f.model, f.test, f.status, f.failing_rows
            )
        })
        .collect();
    Err(SyncError::Blocked {
        sync: spec.name.clone(),
        failures: format!(
            "failed data tests upstream of models.{}: {}",
            spec.model,
            failures.join("; ")
        ),
    })
}

/// Diff the model against the snapshot and store the plan.
pub async fn plan(
    project: &Project,
    warehouse: &Warehouse,
    spec: &SyncSpec,
) -> Result<Plan, SyncError> {
    gate(project, warehouse, spec).await?;
    let diff = diff(warehouse, spec).await?;
    let plan = Plan::new(spec, diff);
    plans::save(warehouse, &plan).await?;
    Ok(plan)
}

/// Plan (or load a plan) and apply it to `dest`.
pub async fn sync(
    project: &Project,
    warehouse: &Warehouse,
    spec: &SyncSpec,
    dest: Arc<dyn Destination>,
    options: SyncOptions,
) -> Result<SyncOutcome, SyncError> {
    let (plan, already_delivered) = match &options.plan_id {
        None => (plan(project, warehouse, spec).await?, 0),
        Some(id) => {
            gate(project, warehouse, spec).await?;
            let mut stored = plans::load(warehouse, &spec.name, id).await?;
            if stored.fields != spec.field_names() {
                return Err(DiffError::Plan {
                    id: id.clone(),
                    problem: format!(
                        "it maps fields {} but the sync now maps {}; make a new plan",
                        stored.fields.join(","),
                        spec.field_names().join(",")
                    ),
                }
                .into());
            }
            let skipped = drop_delivered(warehouse, &mut stored).await?;
            (stored, skipped)
        }
    };
    let changes = plan.changes.clone();
    let run = apply(warehouse, &plan, changes, dest, options.apply).await?;
    Ok(SyncOutcome {
        plan,
        already_delivered,
        run,
    })
}

/// Remove the rows of `plan` an earlier run already delivered; refuse the plan when
/// another plan acknowledged one of its keys after it was made (it would overwrite
/// newer data with older).
async fn drop_delivered(warehouse: &Warehouse, plan: &mut Plan) -> Result<u64, DiffError> {
    let keys: KeySet = plan.changes.iter().map(|c| key_hash(&c.key)).collect();
    let acked = snapshot::details(warehouse, &plan.sync, keys).await?;
    let before = plan.changes.len();
    let mut stale = None;
    plan.changes.retain(|c| match acked.get(&key_hash(&c.key)) {
        Some(d) if d.plan_id == plan.id => false,
        Some(d) if d.seq > plan.snapshot_seq => {
            stale.get_or_insert_with(|| (c.key.clone(), d.plan_id.clone()));
            true
        }
        _ => true,
    });
    if let Some((key, other)) = stale {
        return Err(DiffError::Plan {
            id: plan.id.clone(),
            problem: format!(
                "stale: key {key} was delivered by plan {other} after this plan was made; run `lockstep plan {}` again",
                plan.sync
            ),
        });
    }
    Ok((before - plan.changes.len()) as u64)
}
