//! The dedupe idiom every staging model uses (`row_number() OVER (PARTITION BY id
//! ORDER BY updated_at DESC, ...) AS version_rank ... WHERE version_rank = 1`)
//! without sorting the rows.
//!
//! DataFusion plans it as a sort of every row (every column) by the partition keys
//! and the ORDER BY, the numbering (see `row_number`), then the filter. Only the
//! first row of each key is kept, so the order of the rows is wasted work: at 10M
//! orders the sort alone was 10 s of `stg_shop_orders` and 6.7 s of the line
//! items in `orders_fx`. This rule swaps the three operators for
//! [`LatestRowExec`], which keeps a hash table from each key to the best row seen
//! so far (comparing the ORDER BY in Arrow's row format, one byte comparison) and,
//! once its input is done, emits the winners batch by batch: a batch whose rows all
//! won passes through untouched, the others are filtered.
//!
//! The rows kept are those the sort would rank first. Among rows tied on every
//! ORDER BY key the window keeps whichever the sort happened to put first; this
//! keeps the first one it reads, equally arbitrary. The output is not sorted, so
//! the swap is only made where nothing above the filter uses the sorted order
//! (an operator requiring an input ordering, or one passing its input's order to
//! something that does).

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, Literal};
use datafusion::physical_expr::{
    Distribution, EquivalenceProperties, Partitioning, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::row_number::SortedRowNumberExec;
use in_place::InPlace;
use winners::{Latest, Output, Ranking, emit};

mod in_place;
mod placement;
mod winners;

pub use placement::RowsInPlace;

/// The physical optimizer rule (run after [`super::row_number::SortedRowNumber`]):
/// a `rank = 1` filter over a sorted `row_number()` whose order nothing above
/// uses becomes a [`LatestRowExec`].
#[derive(Debug, Default)]
pub struct LatestRow;

impl PhysicalOptimizerRule for LatestRow {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // A query's result is unordered unless its plan says otherwise: the root
        // needs no order (an ORDER BY is a sort, which requires none of its input).
        rewrite(plan, false)
    }

    fn name(&self) -> &str {
        "latest_row"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with every replaceable dedupe replaced; `order_needed` says whether
/// something above uses the order of `plan`'s output.
fn rewrite(plan: Arc<dyn ExecutionPlan>, order_needed: bool) -> Result<Arc<dyn ExecutionPlan>> {
    if !order_needed && let Some(exec) = LatestRowExec::replacing(&plan)? {
        let input = rewrite(Arc::clone(&exec.input), false)?;
        return Ok(Arc::new(exec.with_input(input)));
    }
    let required = plan.required_input_ordering();
    let maintains = plan.maintains_input_order();
    with_children_rewritten(plan, rewrite, |i| {
        required.get(i).is_some_and(Option::is_some)
            || (order_needed && maintains.get(i).copied().unwrap_or(false))
    })
}

/// A top-down rewrite of a plan, told whether something above depends on it.
type Rewrite = fn(Arc<dyn ExecutionPlan>, bool) -> Result<Arc<dyn ExecutionPlan>>;

/// `plan` with each child `i` replaced by `rewrite(child, flag(i))`, the plan
/// itself kept when no child changed. The walk both rules of this module share:
/// top-down, each child told whether something above depends on its output.
pub(super) fn with_children_rewritten(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: Rewrite,
    flag: impl Fn(usize) -> bool,
) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan.children();
    if children.is_empty() {
        return Ok(plan);
    }
    let mut rewritten = Vec::with_capacity(children.len());
    let mut changed = false;
    for (i, child) in children.into_iter().enumerate() {
        let new = rewrite(Arc::clone(child), flag(i))?;
        changed |= !Arc::ptr_eq(&new, child);
        rewritten.push(new);
    }
    if changed {
        plan.replace_children(
            rewritten,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    } else {
        Ok(plan)
    }
}

/// Each partition key's first row in the ORDER BY, from input partitioned by the
/// keys, in no particular order; the rank column (when kept) is 1 throughout.
#[derive(Debug)]
pub struct LatestRowExec {
    /// The rows, unsorted, hash-partitioned by the keys.
    input: Arc<dyn ExecutionPlan>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    order_by: Vec<PhysicalSortExpr>,
    /// The columns the replaced filter outputs, of the input's then the rank.
    projection: Vec<usize>,
    /// The rank column's value, in its type.
    one: ScalarValue,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    /// Set when the input is not partitioned by the keys: the rows stay where
    /// they are read and only their keys' hashes travel (see `in_place`).
    in_place: Option<Arc<InPlace>>,
}

impl LatestRowExec {
    /// The replacement for `plan`, if it is the filter of a dedupe this covers.
    fn replacing(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Self>> {
        let Some(filter) = plan.downcast_ref::<FilterExec>() else {
            return Ok(None);
        };
        // DataFusion may put a projection choosing the window's columns between the
        // filter and the window: `through` maps its columns to the window's.
        let (below, through) = match filter.input().downcast_ref::<ProjectionExec>() {
            Some(p) => {
                let columns: Option<Vec<usize>> = p
                    .expr()
                    .iter()
                    .map(|e| e.expr.downcast_ref::<Column>().map(Column::index))
                    .collect();
                match columns {
                    Some(c) => (p.input(), Some(c)),
                    None => return Ok(None),
                }
            }
            None => (filter.input(), None),
        };
        let Some(numbering) = below.downcast_ref::<SortedRowNumberExec>() else {
            return Ok(None);
        };
        let Some(sort) = numbering.input().downcast_ref::<SortExec>() else {
            return Ok(None);
        };
        let partition_by = numbering.partition_by();
        let sort_exprs: Vec<PhysicalSortExpr> = sort.expr().iter().cloned().collect();
        // The sort is by the partition keys (in some order), then the ORDER BY.
        let keys_first = sort_exprs.len() >= partition_by.len()
            && sort_exprs[..partition_by.len()]
                .iter()
                .all(|s| partition_by.iter().any(|p| p.as_ref() == s.expr.as_ref()))
            && partition_by.iter().all(|p| {
                sort_exprs[..partition_by.len()]
                    .iter()
                    .any(|s| s.expr.as_ref() == p.as_ref())
            });
        let window_schema = numbering.schema();
        let rank = window_schema.fields().len() - 1;
        let width = filter.input().schema().fields().len();
        let to_window = |i: usize| through.as_ref().map_or(Some(i), |c| c.get(i).copied());
        let Some(rank_in_filter) = (0..width).find(|&i| to_window(i) == Some(rank)) else {
            return Ok(None);
        };
        if sort.fetch().is_some() || !keys_first || !is_rank_one(filter.predicate(), rank_in_filter)
        {
            return Ok(None);
        }
        // What the filter outputs, as columns of the window's output.
        let kept: Vec<usize> = match filter.projection() {
            Some(p) => p.to_vec(),
            None => (0..width).collect(),
        };
        let Some(projection) = kept
            .into_iter()
            .map(to_window)
            .collect::<Option<Vec<usize>>>()
        else {
            return Ok(None);
        };
        let one = ScalarValue::new_one(window_schema.field(rank).data_type())?;
        let input = Arc::clone(sort.input());
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(filter.schema()),
            // The filter's partitioning, as its columns are named in its output:
            // rows stay in the partition they arrive in.
            filter.properties().output_partitioning().clone(),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Some(LatestRowExec {
            input,
            partition_by: partition_by.to_vec(),
            order_by: sort_exprs[partition_by.len()..].to_vec(),
            projection,
            one,
            schema: filter.schema(),
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
            in_place: None,
        }))
    }

    /// The input the rule found: rows hash-partitioned by the keys.
    pub(super) fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// This dedupe over `input` in any partitioning, each row left in its
    /// partition: the output is not partitioned by the keys.
    pub(super) fn in_place(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        self.over(input, true)
    }

    /// The input column that output column `output` is, or `None` for the rank.
    pub fn input_column(&self, output: usize) -> Option<usize> {
        let width = self.input.schema().fields().len();
        self.projection.get(output).copied().filter(|&i| i < width)
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        self.over(input, self.in_place.is_some())
    }

    /// This dedupe over `input`, in place or over input partitioned by the keys.
    fn over(&self, input: Arc<dyn ExecutionPlan>, in_place: bool) -> Self {
        // Rows stay in the partition they arrive in: the input's partitioning, in
        // the output's columns (unknown when a key column is not output).
        let partitioning = match input.properties().output_partitioning() {
            other if in_place => Partitioning::UnknownPartitioning(other.partition_count()),
            Partitioning::Hash(keys, n) => keys
                .iter()
                .map(|k| {
                    let k = k.downcast_ref::<Column>()?;
                    let out = self.projection.iter().position(|&p| p == k.index())?;
                    Some(Arc::new(Column::new(self.schema.field(out).name(), out))
                        as Arc<dyn PhysicalExpr>)
                })
                .collect::<Option<Vec<_>>>()
                .map_or(Partitioning::UnknownPartitioning(*n), |keys| {
                    Partitioning::Hash(keys, *n)
                }),
            other => Partitioning::UnknownPartitioning(other.partition_count()),
        };
        let properties = self
            .properties
            .as_ref()
            .clone()
            .with_partitioning(partitioning);
        LatestRowExec {
            input,
            partition_by: self.partition_by.clone(),
            order_by: self.order_by.clone(),
            projection: self.projection.clone(),
            one: self.one.clone(),
            schema: Arc::clone(&self.schema),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
            // A new input is a new execution: its own shared state.
            in_place: in_place.then(Arc::default),
        }
    }
}

/// Whether `predicate` is `rank = 1` (either way round, the rank possibly cast).
fn is_rank_one(predicate: &Arc<dyn PhysicalExpr>, rank: usize) -> bool {
    let Some(eq) = predicate.downcast_ref::<BinaryExpr>() else {
        return false;
    };
    let is_rank = |e: &Arc<dyn PhysicalExpr>| {
        let e = e.downcast_ref::<CastExpr>().map_or(e, |c| c.expr());
        e.downcast_ref::<Column>()
            .is_some_and(|c| c.index() == rank)
    };
    let is_one = |e: &Arc<dyn PhysicalExpr>| {
        e.downcast_ref::<Literal>().is_some_and(|l| {
            let v = l.value();
            !v.is_null()
                && v.cast_to(&arrow::datatypes::DataType::Int64).ok()
                    == Some(ScalarValue::Int64(Some(1)))
        })
    };
    *eq.op() == Operator::Eq
        && ((is_rank(eq.left()) && is_one(eq.right()))
            || (is_one(eq.left()) && is_rank(eq.right())))
}

impl DisplayAs for LatestRowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self.partition_by.iter().map(|e| e.to_string()).collect();
        let order: Vec<String> = self.order_by.iter().map(|e| e.to_string()).collect();
        write!(
            f,
            "LatestRowExec: partition_by=[{}], order_by=[{}]{}",
            keys.join(", "),
            order.join(", "),
            if self.in_place.is_some() {
                ", in_place"
            } else {
                ""
            }
        )
    }
}

impl ExecutionPlan for LatestRowExec {
    fn name(&self) -> &str {
        "LatestRowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let mut recursion = TreeNodeRecursion::Continue;
        for e in self
            .partition_by
            .iter()
            .chain(self.order_by.iter().map(|s| &s.expr))
        {
            recursion = f(e)?;
            if recursion == TreeNodeRecursion::Stop {
                break;
            }
        }
        Ok(recursion)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        let required = match self.in_place {
            Some(_) => Distribution::UnspecifiedDistribution,
            None => Distribution::KeyPartitioned(self.partition_by.clone()),
        };
        InputDistributionRequirements::new(vec![required])
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(self.with_input(input))),
            _ => datafusion::common::internal_err!("LatestRowExec has one input"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let ranking = Ranking::new(&self.partition_by, &self.order_by);
        let output = Output {
            projection: self.projection.clone(),
            one: self.one.clone(),
            schema: Arc::clone(&self.schema),
            batch_size: context.session_config().batch_size(),
        };
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let out = match &self.in_place {
            Some(state) => {
                let (state, input) = (Arc::clone(state), Arc::clone(&self.input));
                let set = self.metrics.clone();
                futures::stream::once(async move {
                    let marked = state
                        .partition(partition, &input, &ranking, &context, &set)
                        .await?;
                    let _timer = metrics.elapsed_compute().timer();
                    let batches = emit(marked.into_iter(), &output)?;
                    metrics.record_output(batches.iter().map(RecordBatch::num_rows).sum());
                    Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
                })
                .try_flatten()
                .boxed()
            }
            None => {
                let mut input = self.input.execute(partition, Arc::clone(&context))?;
                futures::stream::once(async move {
                    let mut latest = Latest::new(&ranking);
                    while let Some(batch) = input.try_next().await? {
                        let _timer = metrics.elapsed_compute().timer();
                        latest.push(batch)?;
                    }
                    let _timer = metrics.elapsed_compute().timer();
                    let batches = latest.finish(&output)?;
                    metrics.record_output(batches.iter().map(RecordBatch::num_rows).sum());
                    Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
                })
                .try_flatten()
                .boxed()
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            out,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::prelude::SessionContext;

    use crate::model::row_number::SortedRowNumber;
    use crate::model::row_number::tests::{session_with, sorted_lines};

    /// A session deduping with the rules, or with DataFusion's operators alone.
    fn session(with_rules: bool) -> SessionContext {
        let rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> = if with_rules {
            vec![Arc::new(SortedRowNumber), Arc::new(LatestRow)]
        } else {
            Vec::new()
        };
        let ctx = session_with(rules, 4);
        // Versions of records 1-6: (id, shop, v, tag); record 4 has two rows tied
        // on v with the same tag, record 6 a NULL version.
        let rows: [(i64, &str, Option<i64>, &str); 14] = [
            (3, "a", Some(1), "3a-old"),
            (1, "a", Some(1), "1a-old"),
            (2, "a", Some(5), "2a-new"),
            (1, "b", Some(2), "1b-only"),
            (3, "a", Some(3), "3a-new"),
            (3, "a", Some(2), "3a-mid"),
            (2, "a", Some(4), "2a-old"),
            (4, "a", Some(1), "4a"),
            (1, "a", Some(3), "1a-new"),
            (5, "a", Some(1), "5a-old"),
            (5, "a", Some(2), "5a-new"),
            (4, "a", Some(1), "4a"),
            (6, "a", None, "6a-null"),
            (6, "a", Some(1), "6a-one"),
        ];
        let batch = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "shop",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))) as ArrayRef,
            ),
            (
                "v",
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))) as ArrayRef,
            ),
            (
                "tag",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))) as ArrayRef,
            ),
        ])
        .unwrap();
        ctx.register_batch("t", batch).unwrap();
        ctx
    }

    async fn plan(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn keeps_the_rows_the_window_ranks_first_without_sorting() {
        let cases = [
            // The staging idiom, rank dropped by the select.
            "SELECT id, shop, tag FROM (SELECT t.*, row_number() OVER (PARTITION BY id, shop ORDER BY v DESC) AS rn FROM t) WHERE rn = 1",
            // Rank kept, literal first, ascending with NULLs first, one key.
            "SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v ASC NULLS FIRST, tag DESC) AS rn FROM t) WHERE 1 = rn",
            // Descending with NULLs last, two ORDER BY keys.
            "SELECT tag, rn FROM (SELECT t.*, row_number() OVER (PARTITION BY shop, id ORDER BY v DESC NULLS LAST, tag) AS rn FROM t) WHERE rn = 1",
        ];
        for sql in cases {
            let fast = session(true);
            assert!(plan(&fast, sql).await.contains("LatestRowExec"), "{sql}");
            assert!(!plan(&fast, sql).await.contains("SortExec"), "{sql}");
            assert_eq!(
                sorted_lines(&fast, sql).await,
                sorted_lines(&session(false), sql).await,
                "{sql}"
            );
        }
        let kept = sorted_lines(
            &session(true),
            "SELECT tag FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn = 1",
        )
        .await;
        // DESC puts NULLs first (as in DataFusion and PostgreSQL): 6 keeps its NULL.
        for tag in ["1a-new", "2a-new", "3a-new", "4a", "5a-new", "6a-null"] {
            assert!(kept.iter().any(|l| l.contains(tag)), "{tag}: {kept:?}");
        }
        // One row per key: 6 ids, plus the header and borders.
        assert_eq!(kept.len(), 6 + 4, "{kept:?}");
    }

    #[tokio::test]
    async fn a_reader_of_no_column_counts_the_latest_rows() {
        let sql = "SELECT count(*) AS n FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn = 1";
        let fast = session(true);
        assert!(plan(&fast, sql).await.contains("LatestRowExec"), "{sql}");
        let out = sorted_lines(&fast, sql).await;
        assert_eq!(out, sorted_lines(&session(false), sql).await);
        assert!(out.iter().any(|l| l == "| 6 |"), "{out:?}");
    }

    #[tokio::test]
    async fn other_ranks_and_sorted_readers_keep_the_window() {
        let cases = [
            // Not the first row.
            "SELECT tag FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn = 2",
            "SELECT tag FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn <= 1",
            // A reader that uses the sorted order: a second window over the same keys.
            "SELECT tag, rank() OVER (PARTITION BY id ORDER BY v DESC) AS r FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn = 1",
        ];
        for sql in cases {
            let fast = session(true);
            assert!(!plan(&fast, sql).await.contains("LatestRowExec"), "{sql}");
            assert_eq!(
                sorted_lines(&fast, sql).await,
                sorted_lines(&session(false), sql).await,
                "{sql}"
            );
        }
    }
}
