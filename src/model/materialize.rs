//! Building models: in dependency order, each table model's query is run and its
//! result, streamed into Delta writers (one per output partition) as it is
//! computed, replaces
//! `models.<name>` in one atomic Delta commit (a reader sees the old
//! version or the new one, never a mix), then re-registered so the models after it
//! read the fresh version. View models are defined in the session instead: free to
//! build, not persisted, and re-planned by every run, test and docs session; a view
//! several of the run's table models read is computed once and held for them (see
//! `shared_views`).
//!
//! Independent models are built at the same time, up to one per core (at most
//! two), so that one model's single-threaded stretches (Parquet writing, commits)
//! overlap another's query; the order they start in is `schedule`'s.
//!
//! A failed model stops the run: what was built before it stays committed (models
//! already running finish), nothing else starts (it could read stale or missing
//! inputs).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, Partitioning, SendableRecordBatchStream,
    execute_stream_partitioned,
};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;

use super::error::{ModelError, Result};
use super::project::{Model, ModelSet};
use super::properties::Materialized;
use super::schedule::{Node, Schedule};
use super::session;
use super::shared_views::SharedViews;
use crate::warehouse::{StreamWriteError, Warehouse};

/// What building one model produced.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    /// The model.
    pub model: String,
    /// `table` or `view`.
    pub materialized: Materialized,
    /// Rows written (tables only).
    pub rows: Option<usize>,
    /// The Delta version written (tables only).
    pub version: Option<u64>,
    /// Wall time.
    pub seconds: f64,
}

/// What a run built, in build order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// One entry per selected model.
    pub models: Vec<ModelResult>,
}

/// Progress of a run, for terminals and logs.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A model starts; `index` is 0-based among `total` selected models.
    Started {
        /// The model.
        model: &'a str,
        /// Its place in the run.
        index: usize,
        /// How many models the run builds.
        total: usize,
    },
    /// A model is built.
    Finished(&'a ModelResult),
}

/// Build the `selected` models of `set` in dependency order, up to [`width`] at a
/// time: a model starts once what it reads of this run is done (see `schedule`).
pub async fn build(
    warehouse: &Warehouse,
    set: &ModelSet,
    selected: &BTreeSet<String>,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<RunReport> {
    check_inputs_built(warehouse, set, selected).await?;
    let ctx = session::open(warehouse, set.settings()).await?;
    // Views outside the selection that selected models read must exist in the
    // session; they are defined once what they read of this run is built.
    let mut upstream_views = BTreeSet::new();
    for name in selected {
        upstream_views.extend(set.ancestors(name));
    }
    let in_run = |m: &Model| {
        selected.contains(&m.name)
            || (upstream_views.contains(&m.name) && m.materialized() == Materialized::View)
    };
    let kind = |name: &str| set.get(name).map(Model::materialized);
    let mut shared = SharedViews::plan(set.graph(), selected, kind);
    let models: Vec<&Model> = set.in_order().filter(|m| in_run(m)).collect();
    // The columns each shared view's readers use, worked out before anything runs.
    let shared_names: BTreeSet<String> = models
        .iter()
        .filter(|m| shared.is_shared(&m.name))
        .map(|m| m.name.clone())
        .collect();
    let keep = session::used_columns(&ctx, &models, &shared_names).await?;
    let mut schedule = Schedule::new(
        models
            .iter()
            .map(|m| Node {
                name: m.name.clone(),
                reads: m.model_deps().into_iter().map(|d| d.model).collect(),
                heavy: m.materialized() == Materialized::Table || shared.is_shared(&m.name),
            })
            .collect(),
    );
    let width = width();
    let total = selected.len();
    let mut started_count = 0;
    let mut done: Vec<(usize, ModelResult)> = Vec::new();
    let mut running: JoinSet<Built> = JoinSet::new();
    let mut tasks = std::collections::HashMap::new();
    let mut failure: Option<ModelError> = None;
    loop {
        // Start what is ready; after a failure, only wait for what runs.
        while failure.is_none() {
            let Some(i) = schedule.next(running.len() < width) else {
                break;
            };
            schedule.start(i);
            let model = models[i];
            let is_selected = selected.contains(&model.name);
            if is_selected {
                on_event(RunEvent::Started {
                    model: &model.name,
                    index: started_count,
                    total,
                });
                started_count += 1;
            }
            let started = Instant::now();
            if !schedule.node(i).heavy {
                // A plain view: planned now, nothing runs.
                let defined = session::define_view(&ctx, model).await;
                if let Err(e) =
                    defined.and_then(|()| finished(&ctx, set, &mut shared, &mut schedule, i, model))
                {
                    failure = Some(e);
                    break;
                }
                if is_selected {
                    let result = model_result(model, None, None, started);
                    on_event(RunEvent::Finished(&result));
                    done.push((i, result));
                }
                continue;
            }
            let (ctx, warehouse, model) = (ctx.clone(), warehouse.clone(), model.clone());
            let keep = keep.get(&model.name).cloned();
            let task = running.spawn(async move {
                let outcome = match model.materialized() {
                    Materialized::View => {
                        session::define_computed_view(&ctx, &model, keep.as_ref())
                            .await
                            .map(|()| (None, None))
                    }
                    Materialized::Table => materialize(&warehouse, &ctx, &model)
                        .await
                        .map(|(rows, version)| (Some(rows), Some(version))),
                };
                (i, started, outcome)
            });
            tasks.insert(task.id(), i);
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (i, started, outcome) = match joined {
            Ok((_, done)) => done,
            // A panic in a model's task (a bug): fail that model.
            Err(e) => {
                let i = tasks.get(&e.id()).copied().unwrap_or_default();
                let outcome = Err(ModelError::File {
                    file: models[i].file.clone(),
                    message: format!("building the model failed: {e}"),
                });
                (i, Instant::now(), outcome)
            }
        };
        let model = models[i];
        let outcome = outcome.and_then(|built| {
            finished(&ctx, set, &mut shared, &mut schedule, i, model).map(|()| built)
        });
        match outcome {
            Ok((rows, version)) => {
                if selected.contains(&model.name) {
                    let result = model_result(model, rows, version, started);
                    on_event(RunEvent::Finished(&result));
                    done.push((i, result));
                }
            }
            // The first failure is reported; models already running finish (each
            // commits atomically or not at all), nothing else starts.
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // Reported in dependency order, whatever order they finished in.
    done.sort_by_key(|(i, _)| *i);
    Ok(RunReport {
        models: done.into_iter().map(|(_, r)| r).collect(),
    })
}

/// What a model's build task gives back: its place in the schedule, when it
/// started, and the rows and Delta version written (tables) or the error.
type Built = (usize, Instant, Result<(Option<usize>, Option<u64>)>);

/// How many models a run builds at once: one per core, at most
/// [`MAX_CONCURRENT_MODELS`]. DataFusion spreads each query over every core, but
/// much of a model's time is single-threaded (writing Parquet, the Delta commit,
/// stretches of a plan that run in one partition), which another model fills.
pub fn width() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_CONCURRENT_MODELS)
}

/// Most models a run builds at once (each holds its query's working state — hash
/// tables, sorts — and the batches in flight to its writer, so this also bounds
/// memory).
const MAX_CONCURRENT_MODELS: usize = 2;

/// Model `i` of the schedule is built (or defined): let its readers start and free
/// the shared views no model still to build reads.
fn finished(
    ctx: &SessionContext,
    set: &ModelSet,
    shared: &mut SharedViews,
    schedule: &mut Schedule,
    i: usize,
    model: &Model,
) -> Result<()> {
    schedule.finish(i);
    let kind = |name: &str| set.get(name).map(Model::materialized);
    for view in shared.built(set.graph(), &model.name, kind) {
        session::drop_view(ctx, &view)?;
    }
    Ok(())
}

fn model_result(
    model: &Model,
    rows: Option<usize>,
    version: Option<u64>,
    started: Instant,
) -> ModelResult {
    ModelResult {
        model: model.name.clone(),
        materialized: model.materialized(),
        rows,
        version,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// A selected model reading a table model that is neither selected nor built yet
/// would fail with DataFusion's "table not found"; say what to do instead.
async fn check_inputs_built(
    warehouse: &Warehouse,
    set: &ModelSet,
    selected: &BTreeSet<String>,
) -> Result<()> {
    let existing: BTreeSet<_> = warehouse.list_tables().await?.into_iter().collect();
    for model in set.in_order().filter(|m| selected.contains(&m.name)) {
        for dep in model.model_deps() {
            let Some(input) = set.get(&dep.model) else {
                continue;
            };
            if selected.contains(&input.name) || input.materialized() == Materialized::View {
                continue;
            }
            if !existing.contains(&input.table()?) {
                return Err(ModelError::at(
                    &model.file,
                    dep.line,
                    dep.column,
                    format!(
                        "models.{} has not been built yet: run `lockstep run --select +{}` to build it first",
                        input.name, model.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Run one table model and replace its table atomically; returns rows and version.
/// Each output partition of the query streams into a Delta writer of its own (see
/// `warehouse::stream_write`): the result is never held whole, and the query runs
/// while Parquet is encoded, on every core.
async fn materialize(
    warehouse: &Warehouse,
    ctx: &SessionContext,
    model: &Model,
) -> Result<(usize, u64)> {
    let located = |e| ModelError::in_file(&model.file, crate::query::locate(e));
    let df = ctx.sql(&model.sql).await.map_err(located)?;
    let schema = storable_schema(model, df.schema().as_arrow())?;
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.map_err(located)?;
    let plan = at_most_writers(plan, ctx.copied_config().target_partitions()).map_err(located)?;
    let streams = execute_stream_partitioned(plan, task)
        .map_err(located)?
        .into_iter()
        .map(|stream| {
            let target = schema.clone();
            let conformed = stream.map(move |batch| {
                conform(&batch?, &target).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "result does not match its planned schema: {e}"
                    ))
                })
            });
            Box::pin(RecordBatchStreamAdapter::new(schema.clone(), conformed))
                as SendableRecordBatchStream
        })
        .collect();
    let table = model.table()?;
    let commit = match warehouse.overwrite_streams(&table, schema, streams).await {
        Ok(commit) => commit,
        Err(StreamWriteError::Query(e)) => return Err(located(e)),
        Err(StreamWriteError::Warehouse(e)) => return Err(e.into()),
    };
    warehouse.register(ctx, &table).await?;
    Ok((commit.rows, commit.version))
}

/// `plan` with no more output partitions than `writers`: each partition gets a
/// writer (and a file), and a union's partitions add up past the cores.
fn at_most_writers(
    plan: Arc<dyn ExecutionPlan>,
    writers: usize,
) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    let writers = writers.max(1);
    if plan.output_partitioning().partition_count() <= writers {
        return Ok(plan);
    }
    let spread = Partitioning::RoundRobinBatch(writers);
    Ok(Arc::new(RepartitionExec::try_new(plan, spread)?))
}

/// The planned schema, checked for what a Delta table cannot hold: unnamed
/// expressions (`count(*)`) and duplicate names (`SELECT a.id, b.id`). Nullability
/// is relaxed so a later run producing a null never conflicts with the table.
fn storable_schema(model: &Model, planned: &Schema) -> Result<SchemaRef> {
    let mut seen = BTreeSet::new();
    for field in planned.fields() {
        let name = field.name();
        if name.is_empty() || name.chars().any(|c| " ,;{}()\n\t=".contains(c)) {
            return Err(ModelError::File {
                file: model.file.clone(),
                message: format!(
                    "column {name:?} needs a plain name: add `AS some_name` to that expression"
                ),
            });
        }
        if !seen.insert(name.to_lowercase()) {
            return Err(ModelError::File {
                file: model.file.clone(),
                message: format!(
                    "column {name:?} appears twice in the result: alias one of them (AS ...)"
                ),
            });
        }
    }
    let fields: Vec<Field> = planned
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), storable_type(f.data_type()), true))
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// View types (DataFusion's fast string layout) are stored as their plain
/// counterparts; the batches are cast to match.
fn storable_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// Cast a batch's columns to the stored schema.
fn conform(
    batch: &arrow::record_batch::RecordBatch,
    schema: &SchemaRef,
) -> std::result::Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)
}
