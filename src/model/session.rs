//! The DataFusion session models run in: every warehouse table registered as
//! `<area>.<name>`, lockstep's functions (see `udf`), and the view models a query
//! needs defined in dependency order.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::common::{Column, TableReference};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::collect_partitioned;
use datafusion::prelude::SessionContext;

use super::error::{ModelError, Result};
use super::project::{Model, ModelSet};
use super::properties::Materialized;
use super::row_number::SortedRowNumber;
use super::udf;
use super::used_columns::used_columns;
use crate::warehouse::Warehouse;

/// See `open`: a partial aggregate merging fewer than this share of its rows is
/// skipped.
const PARTIAL_AGGREGATION_SKIP_RATIO: &str = "0.5";

/// A session over the warehouse with lockstep's functions registered, configured
/// by `settings` (the project's; `Settings::default()` outside a project).
pub async fn open(warehouse: &Warehouse, settings: &udf::Settings) -> Result<SessionContext> {
    let ctx = warehouse.session().await?;
    // Staging models dedupe with row_number(): number rows the fast way.
    let mut state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_physical_optimizer_rule(Arc::new(SortedRowNumber))
        .build();
    // Models group by near-unique keys (order, refund, golden customer): a partial
    // aggregate that merges fewer than half its rows costs more than it saves, so
    // let it pass rows through sooner than DataFusion's default (0.8). Measured at
    // 1M orders: ~2-3 s less CPU per build (the line items per order in
    // orders_fx, ratio ~0.74), same results.
    state.config_mut().options_mut().set(
        "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
        PARTIAL_AGGREGATION_SKIP_RATIO,
    )?;
    let ctx = SessionContext::new_with_state(state);
    udf::register(&ctx, settings);
    Ok(ctx)
}

/// Define `model` as a view in `ctx` (planning its SQL now, against the tables as
/// registered now).
pub async fn define_view(ctx: &SessionContext, model: &Model) -> Result<()> {
    let df = ctx
        .sql(&model.sql)
        .await
        .map_err(|e| ModelError::in_file(&model.file, crate::query::locate(e)))?;
    let name = TableReference::partial("models", model.name.as_str());
    ctx.deregister_table(name.clone())?;
    ctx.register_table(name, df.into_view())?;
    Ok(())
}

/// Define `model` as a view computed now, once, and held in memory (a run's shared
/// views, see `shared_views`): readers scan the stored rows instead of re-running
/// its query. Only the columns `readers` use are kept (see `used_columns`); the
/// partitions are kept, so readers still run in parallel.
pub async fn define_computed_view(
    ctx: &SessionContext,
    model: &Model,
    readers: &[&Model],
) -> Result<()> {
    let located = |e| ModelError::in_file(&model.file, crate::query::locate(e));
    let df = ctx.sql(&model.sql).await.map_err(located)?;
    let name = TableReference::partial("models", model.name.as_str());
    let schema = Arc::new(df.schema().as_arrow().clone());
    let df = match used_columns(ctx, &name, schema, readers).await? {
        Some(indices) => {
            let columns: Vec<Expr> = indices
                .iter()
                .map(|i| Expr::Column(Column::from(df.schema().qualified_field(*i))))
                .collect();
            df.select(columns).map_err(located)?
        }
        None => df,
    };
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.map_err(located)?;
    // The executed plan's schema, not the logical one: the batches match it exactly.
    let schema = plan.schema();
    let partitions = collect_partitioned(plan, task).await.map_err(located)?;
    let table = MemTable::try_new(schema, partitions)?;
    ctx.deregister_table(name.clone())?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Remove view model `name` from the session (its rows, when it was computed, are
/// freed once no plan holds them).
pub fn drop_view(ctx: &SessionContext, name: &str) -> Result<()> {
    ctx.deregister_table(TableReference::partial("models", name))?;
    Ok(())
}

/// Define every view model that the models in `wanted` read (and those in `wanted`
/// that are views themselves), in dependency order.
pub async fn define_views_for(
    ctx: &SessionContext,
    set: &ModelSet,
    wanted: &BTreeSet<String>,
) -> Result<()> {
    let mut needed: BTreeSet<String> = wanted.clone();
    for name in wanted {
        needed.extend(set.ancestors(name));
    }
    for model in set.in_order() {
        if needed.contains(&model.name) && model.materialized() == Materialized::View {
            define_view(ctx, model).await?;
        }
    }
    Ok(())
}
