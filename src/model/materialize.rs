//! Building models: in dependency order, each table model's query is run and its
//! result replaces `models.<name>` in one atomic Delta commit (a reader sees the old
//! version or the new one, never a mix), then re-registered so the models after it
//! read the fresh version. View models are defined in the session instead: free to
//! build, not persisted, and re-planned by every run, test and docs session; a view
//! several of the run's table models read is computed once and held for them (see
//! `shared_views`).
//!
//! A failed model stops the run: what was built before it stays committed, nothing
//! after it runs (it would read stale or missing inputs).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::error::{ModelError, Result};
use super::project::{Model, ModelSet};
use super::properties::Materialized;
use super::session;
use super::shared_views::SharedViews;
use crate::warehouse::Warehouse;

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

/// Build the `selected` models of `set` in dependency order.
pub async fn build(
    warehouse: &Warehouse,
    set: &ModelSet,
    selected: &BTreeSet<String>,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<RunReport> {
    check_inputs_built(warehouse, set, selected).await?;
    let ctx = session::open(warehouse, set.settings()).await?;
    // Views outside the selection that selected models read must exist in the
    // session; they are defined at their place in the order, after anything
    // upstream of them that this run rebuilds.
    let mut upstream_views = BTreeSet::new();
    for name in selected {
        upstream_views.extend(set.ancestors(name));
    }
    let kind = |name: &str| set.get(name).map(Model::materialized);
    let mut shared = SharedViews::plan(set.graph(), selected, kind);
    // The models of this run that read `view` directly.
    let readers = |view: &str| -> Vec<&Model> {
        set.in_order()
            .filter(|m| {
                selected.contains(&m.name)
                    || (upstream_views.contains(&m.name) && m.materialized() == Materialized::View)
            })
            .filter(|m| m.model_deps().iter().any(|d| d.model == view))
            .collect()
    };
    let define = async |model: &Model, shared: &SharedViews| {
        if shared.is_shared(&model.name) {
            session::define_computed_view(&ctx, model, &readers(&model.name)).await
        } else {
            session::define_view(&ctx, model).await
        }
    };
    let total = selected.len();
    let mut report = RunReport::default();
    for model in set.in_order() {
        if !selected.contains(&model.name) {
            if upstream_views.contains(&model.name) && model.materialized() == Materialized::View {
                define(model, &shared).await?;
            }
            continue;
        }
        on_event(RunEvent::Started {
            model: &model.name,
            index: report.models.len(),
            total,
        });
        let started = Instant::now();
        let (rows, version) = match model.materialized() {
            Materialized::View => {
                define(model, &shared).await?;
                (None, None)
            }
            Materialized::Table => {
                let (rows, version) = materialize(warehouse, &ctx, model).await?;
                (Some(rows), Some(version))
            }
        };
        // Free what no later model reads (shared views are held in memory).
        for view in shared.built(set.graph(), &model.name, kind) {
            session::drop_view(&ctx, &view)?;
        }
        let result = ModelResult {
            model: model.name.clone(),
            materialized: model.materialized(),
            rows,
            version,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_event(RunEvent::Finished(&result));
        report.models.push(result);
    }
    Ok(report)
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
async fn materialize(
    warehouse: &Warehouse,
    ctx: &SessionContext,
    model: &Model,
) -> Result<(usize, u64)> {
    let located = |e| ModelError::in_file(&model.file, crate::query::locate(e));
    let df = ctx.sql(&model.sql).await.map_err(located)?;
    let schema = storable_schema(model, df.schema().as_arrow())?;
    let batches = df.collect().await.map_err(located)?;
    let batches = batches
        .into_iter()
        .map(|b| conform(&b, &schema))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ModelError::File {
            file: model.file.clone(),
            message: format!("result does not match its planned schema: {e}"),
        })?;
    let table = model.table()?;
    let commit = warehouse.overwrite(&table, schema, batches).await?;
    warehouse.register(ctx, &table).await?;
    Ok((commit.rows, commit.version))
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
