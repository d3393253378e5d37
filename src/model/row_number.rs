//! A faster `row_number()` for the dedupe idiom every staging model uses
//! (`row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, ...) = 1`).
//!
//! DataFusion runs it with `BoundedWindowAggExec`, which buffers and slices every
//! column of the input per window partition: with one partition per record id that
//! is millions of tiny partitions, and it costs seconds per column (measured: 32 s
//! for raw_shop.orders at 1M orders, most of a model build). When the input already
//! arrives sorted by the partition keys (the plan's `Sorted` mode, which DataFusion
//! chooses for these queries: it sorts by partition keys then the ORDER BY), a row's
//! number is simply its position within its run of equal keys, so this rule swaps
//! the operator for [`SortedRowNumberExec`], which numbers each batch in one pass
//! over the key columns and passes the other columns through untouched.
//!
//! Results are identical: the same rows get the same numbers (both number rows in
//! the order the sorted input delivers them, including among ORDER BY ties), and
//! the replacement keeps the original's schema, ordering and distribution
//! requirements, which it reports on the original's behalf.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, InputOrderMode, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures::StreamExt;

/// The physical optimizer rule: `BoundedWindowAggExec` computing exactly one
/// `row_number()` with a PARTITION BY over sorted input becomes
/// [`SortedRowNumberExec`].
#[derive(Debug, Default)]
pub struct SortedRowNumber;

impl PhysicalOptimizerRule for SortedRowNumber {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match SortedRowNumberExec::replacing(&node)? {
            Some(exec) => Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>)),
            None => Ok(Transformed::no(node)),
        })
        .data()
    }

    fn name(&self) -> &str {
        "sorted_row_number"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `row_number()` over input sorted by its partition keys. Holds the window
/// operator it replaces, whose schema and input requirements it reports.
#[derive(Debug)]
pub struct SortedRowNumberExec {
    window: Arc<dyn ExecutionPlan>,
    input: Arc<dyn ExecutionPlan>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
}

impl SortedRowNumberExec {
    /// The replacement for `plan`, if it is a window operator this covers.
    fn replacing(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Self>> {
        let Some(window) = plan.downcast_ref::<BoundedWindowAggExec>() else {
            return Ok(None);
        };
        let [expr] = window.window_expr() else {
            return Ok(None);
        };
        let is_row_number = expr
            .as_any()
            .downcast_ref::<StandardWindowExpr>()
            .and_then(|e| {
                e.get_standard_func_expr()
                    .as_any()
                    .downcast_ref::<WindowUDFExpr>()
                    .map(|u| u.fun().name() == "row_number")
            })
            .unwrap_or(false);
        let partition_by = expr.partition_by().to_vec();
        // Without PARTITION BY the window is one partition, with a single-partition
        // input: nothing to gain, keep DataFusion's operator.
        if !is_row_number
            || partition_by.is_empty()
            || window.input_order_mode != InputOrderMode::Sorted
        {
            return Ok(None);
        }
        Ok(Some(SortedRowNumberExec {
            window: Arc::clone(plan),
            input: Arc::clone(window.input()),
            partition_by,
        }))
    }
}

impl SortedRowNumberExec {
    /// The sorted input it numbers.
    pub(super) fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// The PARTITION BY keys.
    pub(super) fn partition_by(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.partition_by
    }
}

impl DisplayAs for SortedRowNumberExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self.partition_by.iter().map(|e| e.to_string()).collect();
        write!(f, "SortedRowNumberExec: partition_by=[{}]", keys.join(", "))
    }
}

impl ExecutionPlan for SortedRowNumberExec {
    fn name(&self) -> &str {
        "SortedRowNumberExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.window.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.window.apply_expressions(f)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.window.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.window.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.window.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.window.benefits_from_input_partitioning()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let window = Arc::clone(&self.window).replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        // The new input may not be sorted any more: then the window operator
        // stays (it sorts out its own mode), else it is replaced again.
        match SortedRowNumberExec::replacing(&window)? {
            Some(exec) => Ok(Arc::new(exec)),
            None => Ok(window),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = self.window.schema();
        let mut numbering = Numbering::new(&self.input.schema(), &self.partition_by)?;
        let out_schema = Arc::clone(&schema);
        let stream = input.map(move |batch| numbering.number(batch?, &out_schema));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Numbering state of one output partition: the key of the last row seen and
/// its number, carried from batch to batch.
struct Numbering {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    converter: RowConverter,
    last: Option<(OwnedRow, u64)>,
}

impl Numbering {
    fn new(input: &SchemaRef, partition_by: &[Arc<dyn PhysicalExpr>]) -> Result<Self> {
        let fields = partition_by
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(input)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Numbering {
            partition_by: partition_by.to_vec(),
            converter: RowConverter::new(fields)?,
            last: None,
        })
    }

    /// `batch` with its row numbers appended as the last column.
    fn number(&mut self, batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let keys = self
            .partition_by
            .iter()
            .map(|e| e.evaluate(&batch)?.into_array(n))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        let mut numbers = Vec::with_capacity(n);
        let mut current = match &self.last {
            Some((row, number)) if n > 0 && row.row() == rows.row(0) => *number,
            _ => 0,
        };
        for i in 0..n {
            if i > 0 && rows.row(i) != rows.row(i - 1) {
                current = 0;
            }
            current += 1;
            numbers.push(current);
        }
        if n > 0 {
            self.last = Some((rows.row(n - 1).owned(), current));
        }
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(UInt64Array::from(numbers)));
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_optimizer::PhysicalOptimizerRule;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A two-partition session with small batches and `rules` added to
    /// DataFusion's physical optimizer rules.
    pub(in crate::model) fn session_with(
        rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
        batch_size: usize,
    ) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_batch_size(batch_size);
        let mut builder = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        for rule in rules {
            builder = builder.with_physical_optimizer_rule(rule);
        }
        SessionContext::new_with_state(builder.build())
    }

    /// The physical plan of `sql` after every optimizer rule, as indented text.
    pub(in crate::model) async fn physical_plan(ctx: &SessionContext, sql: &str) -> String {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string()
    }

    /// The result of `sql` as printed table lines, sorted (row order aside).
    pub(in crate::model) async fn sorted_lines(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out: Vec<String> = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .map(String::from)
            .collect();
        out.sort();
        out
    }

    /// A session numbering rows with the rule, or without it.
    fn session(with_rule: bool) -> SessionContext {
        let rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> = if with_rule {
            vec![Arc::new(SortedRowNumber)]
        } else {
            Vec::new()
        };
        session_with(rules, 3)
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let ids: Vec<i64> = vec![3, 1, 2, 1, 3, 3, 2, 4, 1, 5, 5];
        let versions: Vec<i64> = vec![1, 1, 5, 2, 3, 2, 4, 1, 3, 1, 2];
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("v", Arc::new(Int64Array::from(versions)) as ArrayRef),
            (
                "tag",
                Arc::new(StringArray::from(vec![
                    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k",
                ])) as ArrayRef,
            ),
        ])
        .unwrap();
        ctx.register_batch("t", batch).unwrap();
        sorted_lines(ctx, sql).await
    }

    #[tokio::test]
    async fn numbers_match_datafusions_window_operator() {
        let sql = "SELECT id, v, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t";
        let plain = session(false);
        let fast = session(true);
        assert_eq!(rows(&fast, sql).await, rows(&plain, sql).await);
        let plan = fast
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&plan)
            .unwrap()
            .to_string();
        assert!(text.contains("SortedRowNumberExec"), "{text}");
    }

    #[tokio::test]
    async fn the_dedupe_idiom_keeps_the_latest_version() {
        let sql = "SELECT id, tag FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn = 1";
        let out = rows(&session(true), sql).await;
        assert_eq!(out, rows(&session(false), sql).await);
        for expected in [
            "| 1  | i   |",
            "| 2  | c   |",
            "| 3  | e   |",
            "| 5  | k   |",
        ] {
            assert!(out.iter().any(|l| l == expected), "{expected}: {out:?}");
        }
    }
}
