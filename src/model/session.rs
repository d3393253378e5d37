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
use super::hash_once::HashOnce;
use super::held_rows;
use super::latest_row::{LatestRow, RowsInPlace};
use super::project::{Model, ModelSet};
use super::properties::Materialized;
use super::row_number::SortedRowNumber;
use super::udf;
pub use super::used_columns::used_columns;
use crate::warehouse::Warehouse;

/// See `open`: a partial aggregate merging fewer than this share of its rows is
/// skipped.
const PARTIAL_AGGREGATION_SKIP_RATIO: &str = "0.5";

/// See `open`: the share of rows (percent) a filter is assumed to keep when its
/// selectivity cannot be estimated (DataFusion's default is 20).
const FILTER_SELECTIVITY_PERCENT: &str = "100";

/// See `for_models`: partitions a model's query is split into, per core.
const PARTITIONS_PER_CORE: usize = 2;

/// A session over the warehouse with lockstep's functions registered, configured
/// by `settings` (the project's; `Settings::default()` outside a project).
pub async fn open(warehouse: &Warehouse, settings: &udf::Settings) -> Result<SessionContext> {
    // Text is read from Parquet as plain strings, not string views: a view points
    // into the decoded page it came from, so every batch a join builds or an
    // aggregate keeps pins whole pages: golden_customers' join on identity_graph
    // (4.9M rows of three short strings at 10M orders) built 2.1 GB, and 1.16 GB
    // read as plain strings. Same results, less peak memory and fewer page faults
    // (README, model build history).
    let ctx = for_models(
        &warehouse
            .session_with(|config| {
                config.set_bool(
                    "datafusion.execution.parquet.schema_force_view_types",
                    false,
                )
            })
            .await?,
    )?;
    udf::register(&ctx, settings);
    Ok(ctx)
}

/// `ctx` with the planner rules and options models run with.
fn for_models(ctx: &SessionContext) -> Result<SessionContext> {
    // Staging models dedupe with row_number(): number rows the fast way.
    let mut state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_physical_optimizer_rule(Arc::new(SortedRowNumber))
        // ...and keep each record's latest version without sorting at all.
        .with_physical_optimizer_rule(Arc::new(LatestRow))
        // ...and hash rows across partitions once per chain of keyed operators.
        .with_physical_optimizer_rule(Arc::new(HashOnce))
        // ...and leave a dedupe's rows where they are read when nothing relies on
        // them being spread by its keys.
        .with_physical_optimizer_rule(Arc::new(RowsInPlace))
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
    // A filter DataFusion cannot bound from statistics is guessed to keep a fifth
    // of its input. Model filters mostly keep nearly everything (`version_rank =
    // 1`, `NOT is_test`, `counts_in_sales`), and the guess made a filtered wide
    // side look smaller than a narrow aggregate beside it, so hash joins built the
    // wide rows: `orders_fx` built its million orders, every column, to join their
    // line-item sums. Assuming filters keep everything sizes joins by width.
    // Same results; measured: the 10M-order build 163 s to 118.5 s, and at 1M
    // peak memory 2.2–2.45 GiB against 2.5–2.8 GiB (nine alternating runs each).
    state.config_mut().options_mut().set(
        "datafusion.optimizer.default_filter_selectivity",
        FILTER_SELECTIVITY_PERCENT,
    )?;
    // Two partitions per core rather than DataFusion's one: the hash tables of a
    // partitioned join or aggregate over 10M orders are then half the size (fewer
    // cache misses per probe), and a core whose partition finishes first has
    // another to take instead of idling. Same results (partitioning changes no
    // row); measured at 10M orders: 57.2–63.5 s against 65.6–73.6 s per build and
    // ~2 GiB less peak memory, at 1M 5.2–5.4 s against 6.0–6.6 s (alternating).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    state.config_mut().options_mut().execution.target_partitions = cores * PARTITIONS_PER_CORE;
    Ok(SessionContext::new_with_state(state))
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
/// its query. With `keep`, only those columns are held (the ones its readers use,
/// see `used_columns`); the partitions are kept, so readers still run in parallel.
/// Text columns are compacted first (see `held_rows`).
pub async fn define_computed_view(
    ctx: &SessionContext,
    model: &Model,
    keep: Option<&BTreeSet<String>>,
) -> Result<()> {
    let located = |e| ModelError::in_file(&model.file, crate::query::locate(e));
    let df = ctx.sql(&model.sql).await.map_err(located)?;
    let df = match keep {
        Some(keep) => {
            let columns: Vec<Expr> = df
                .schema()
                .iter()
                .filter(|(_, field)| keep.contains(field.name()))
                .map(|(qualifier, field)| Expr::Column(Column::from((qualifier, field))))
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
    let partitions = partitions
        .iter()
        .map(|batches| batches.iter().map(held_rows::compact).collect())
        .collect::<std::result::Result<Vec<Vec<_>>, _>>()
        .map_err(datafusion::error::DataFusionError::from)?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        let batches = partitions.iter().flatten();
        let rows: usize = batches.clone().map(|b| b.num_rows()).sum();
        let bytes: usize = batches.map(|b| b.get_array_memory_size()).sum();
        let columns = schema.fields().len();
        // Per column, largest first: what to narrow or type tighter.
        let mut by_column: Vec<(usize, &str)> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let held = partitions
                    .iter()
                    .flatten()
                    .map(|b| b.column(i).get_array_memory_size())
                    .sum();
                (held, field.name().as_str())
            })
            .collect();
        by_column.sort_unstable_by(|a, b| b.cmp(a));
        let by_column = by_column
            .iter()
            .map(|(held, name)| format!("{name}={held}"))
            .collect::<Vec<_>>()
            .join(" ");
        tracing::debug!(view = %model.name, rows, bytes, columns, by_column, "computed view held");
    }
    let name = TableReference::partial("models", model.name.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
    use datafusion::prelude::SessionConfig;

    /// `wide`: 20,000 rows of an id and six text columns; `items`: 5 numbers per id.
    fn register(ctx: &SessionContext) -> datafusion::common::Result<()> {
        let ids: Vec<i64> = (0..20_000).collect();
        let text: Vec<String> = ids
            .iter()
            .map(|i| format!("customer-{i}@example.com"))
            .collect();
        let mut fields = vec![Field::new("id", DataType::Int64, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids))];
        for c in 0..6 {
            fields.push(Field::new(format!("t{c}"), DataType::Utf8, false));
            columns.push(Arc::new(StringArray::from(text.clone())));
        }
        let wide = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let items = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("order_id", DataType::Int64, false),
                Field::new("amount", DataType::Int64, false),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    (0..100_000).map(|i| i % 20_000),
                )),
                Arc::new(Int64Array::from_iter_values(0..100_000)),
            ],
        )?;
        for (name, batch) in [("wide", wide), ("items", items)] {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            ctx.register_table(name, Arc::new(table))?;
        }
        Ok(())
    }

    /// The join type of the query's partitioned hash join and whether it builds
    /// (its first input) the per-order sums.
    async fn join(ctx: &SessionContext) -> datafusion::common::Result<(String, bool)> {
        let plan = ctx
            .sql(
                "SELECT w.*, s.total FROM (SELECT * FROM wide WHERE t0 <> '') w \
                 LEFT JOIN (SELECT order_id, sum(amount) AS total FROM items GROUP BY order_id) s \
                 ON s.order_id = w.id",
            )
            .await?
            .create_physical_plan()
            .await?;
        let mut found = (String::new(), false);
        plan.apply(|node| {
            if let Some(join) = node.downcast_ref::<HashJoinExec>()
                && *join.partition_mode() == PartitionMode::Partitioned
            {
                let build = datafusion::physical_plan::displayable(join.left().as_ref())
                    .indent(false)
                    .to_string();
                found = (
                    format!("{:?}", join.join_type()),
                    build.contains("AggregateExec"),
                );
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(found)
    }

    #[tokio::test]
    async fn joins_build_the_narrow_sums_not_the_filtered_wide_rows() -> Result<()> {
        let config = || {
            let mut config = SessionConfig::new().with_target_partitions(2);
            // Partitioned joins at test sizes (a few megabytes would be collected).
            let optimizer = &mut config.options_mut().optimizer;
            optimizer.hash_join_single_partition_threshold = 0;
            optimizer.hash_join_single_partition_threshold_rows = 0;
            config
        };
        // DataFusion alone guesses the filter keeps a fifth of the wide rows and
        // builds them.
        let plain = SessionContext::new_with_config(config());
        register(&plain)?;
        assert_eq!(join(&plain).await?, ("Left".to_string(), false));
        let ctx = for_models(&SessionContext::new_with_config(config()))?;
        register(&ctx)?;
        assert_eq!(join(&ctx).await?, ("Right".to_string(), true));
        Ok(())
    }
}
