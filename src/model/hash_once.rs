//! Hash a model's rows across partitions once where DataFusion hashes them again
//! by fewer keys.
//!
//! DataFusion places a hash repartition under each operator that needs rows of
//! equal keys together, keyed by exactly that operator's keys. `orders_fx` dedupes
//! the line items by (order_id, order_updated_at, id), sums them by (order_id,
//! order_updated_at) and joins the sums on order_id: three repartitions of every
//! line, each a hash, a copy of every row into new batches and a channel hop (at
//! 10M orders, 17.5M rows twice and 10M once). Rows hashed by order_id alone are
//! already together for every key set that contains order_id, so one
//! repartition, by the last operator's keys, serves the whole chain.
//!
//! This rule (run after DataFusion's and lockstep's own rules) finds a hash
//! repartition whose input reaches an earlier hash repartition through operators
//! that keep each row in its partition (projections, filters, aggregates by
//! partition, [`LatestRowExec`]). When the later keys are plain columns that each
//! of those operators' key requirements contains, the earlier repartition hashes
//! by them instead and the later one goes. The values hashed are the same columns
//! in the same order, so the output lands in the same partitions as before, which
//! a partitioned join's other side relies on. A final aggregate left directly on
//! its partial is then merged into one single-pass aggregate (by DataFusion's
//! own `CombinePartialFinalAggregate`).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{Distribution, Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::combine_partial_final_agg::CombinePartialFinalAggregate;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};

use super::latest_row::LatestRowExec;

/// The physical optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub struct HashOnce;

impl PhysicalOptimizerRule for HashOnce {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Bottom-up, so that a chain of three repartitions folds from its lowest:
        // the middle one goes first, then the top one into the narrowed bottom one.
        let folded = plan.transform_up(|node| {
            Ok(match fold(&node)? {
                Some(folded) => Transformed::new(folded, true, TreeNodeRecursion::Continue),
                None => Transformed::no(node),
            })
        })?;
        if !folded.transformed {
            return Ok(folded.data);
        }
        // A final aggregate whose repartition went sits on its partial now:
        // DataFusion's own rule merges such pairs into one single-pass aggregate.
        CombinePartialFinalAggregate::new().optimize(folded.data, config)
    }

    fn name(&self) -> &str {
        "hash_once"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` without its top repartition, the earlier one hashing by its keys, if
/// `plan` is a hash repartition that can be folded that way.
fn fold(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(top) = plan.downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Partitioning::Hash(top_keys, partitions) = top.partitioning() else {
        return Ok(None);
    };
    if top.preserve_order() {
        return Ok(None);
    }
    let Some(mut keys) = column_indices(top_keys) else {
        return Ok(None);
    };
    // Walk down to the earlier repartition, following the keys' columns.
    let mut chain: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
    let mut node = Arc::clone(top.input());
    loop {
        if let Some(bottom) = node.downcast_ref::<RepartitionExec>() {
            let same_count = bottom.partitioning().partition_count() == *partitions;
            if !same_count
                || bottom.preserve_order()
                || !matches!(bottom.partitioning(), Partitioning::Hash(..))
            {
                return Ok(None);
            }
            let input = Arc::clone(bottom.input());
            let schema = input.schema();
            let exprs = keys
                .iter()
                .map(|&i| Arc::new(Column::new(schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
                .collect();
            let narrowed: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
                input,
                Partitioning::Hash(exprs, *partitions),
            )?);
            return rebuild(narrowed, chain).map(Some);
        }
        let Some((input, below)) = pass_down(&node, &keys) else {
            return Ok(None);
        };
        chain.push(node);
        node = input;
        keys = below;
    }
}

/// The input of `node` and where the columns `keys` of its output come from in
/// it, if `node` keeps every row in its partition, `keys` pass through it as
/// plain columns, and whatever key partitioning it requires of its input holds
/// when rows are hashed by those columns alone.
fn pass_down(
    node: &Arc<dyn ExecutionPlan>,
    keys: &[usize],
) -> Option<(Arc<dyn ExecutionPlan>, Vec<usize>)> {
    let source: Box<dyn Fn(usize) -> Option<usize>> =
        if let Some(p) = node.downcast_ref::<ProjectionExec>() {
            Box::new(|i| {
                p.expr()
                    .get(i)
                    .and_then(|e| e.expr.downcast_ref::<Column>())
                    .map(Column::index)
            })
        } else if let Some(f) = node.downcast_ref::<FilterExec>() {
            Box::new(|i| match f.projection() {
                Some(p) => p.get(i).copied(),
                None => Some(i),
            })
        } else if let Some(a) = node.downcast_ref::<AggregateExec>() {
            let by_partition = matches!(
                a.mode(),
                AggregateMode::Partial
                    | AggregateMode::FinalPartitioned
                    | AggregateMode::SinglePartitioned
            );
            if !by_partition || !a.group_expr().is_single() {
                return None;
            }
            Box::new(|i| {
                a.group_expr()
                    .expr()
                    .get(i)
                    .and_then(|(e, _)| e.downcast_ref::<Column>())
                    .map(Column::index)
            })
        } else if let Some(l) = node.downcast_ref::<LatestRowExec>() {
            Box::new(|i| l.input_column(i))
        } else {
            return None;
        };
    let below: Vec<usize> = keys.iter().map(|&i| source(i)).collect::<Option<_>>()?;
    let children = node.children();
    let [input] = children.as_slice() else {
        return None;
    };
    let requirements = node.input_distribution_requirements();
    let holds = match requirements.child_distribution(0) {
        None | Some(Distribution::UnspecifiedDistribution) => true,
        Some(Distribution::KeyPartitioned(required)) => {
            let required = column_indices(required);
            required.is_some_and(|r| below.iter().all(|k| r.contains(k)))
        }
        // A single partition, or a requirement this rule does not know.
        _ => false,
    };
    holds.then(|| (Arc::clone(input), below))
}

/// The column indices of `exprs`, if each is a plain column.
fn column_indices(exprs: &[Arc<dyn PhysicalExpr>]) -> Option<Vec<usize>> {
    exprs
        .iter()
        .map(|e| e.downcast_ref::<Column>().map(Column::index))
        .collect()
}

/// `chain` (top first) rebuilt over `bottom`.
fn rebuild(
    bottom: Arc<dyn ExecutionPlan>,
    chain: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut plan = bottom;
    for node in chain.into_iter().rev() {
        plan = node.replace_children(
            vec![plan],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use crate::model::latest_row::LatestRow;
    use crate::model::row_number::SortedRowNumber;
    use crate::model::row_number::tests::{physical_plan, sorted_lines};

    /// Line items of orders 1-4 over versions and extractions: (id, order_id,
    /// order version, extraction, amount). Order 1's line 10 was extracted twice at
    /// version 2 (the later extraction, 7, wins); order 2 has lines at versions 1
    /// and 3, order 3 none at its latest version.
    const LINES: [(i64, i64, i64, i64, i64); 9] = [
        (10, 1, 1, 1, 5),
        (10, 1, 2, 1, 6),
        (10, 1, 2, 2, 7),
        (11, 1, 2, 1, 100),
        (20, 2, 1, 1, 50),
        (20, 2, 3, 1, 60),
        (21, 2, 3, 1, 1),
        (30, 3, 1, 1, 9),
        (40, 4, 1, 1, 4),
    ];
    /// Each order's latest version: (id, version).
    const ORDERS: [(i64, i64); 4] = [(1, 2), (2, 3), (3, 2), (4, 1)];

    /// The orders_fx shape: dedupe line versions, sum per order version, join the
    /// orders' latest versions on order_id with the version compared in a filter.
    const SUMS: &str = "WITH ranked AS (
          SELECT l.*, row_number() OVER (PARTITION BY id, v, order_id ORDER BY extracted DESC) AS rk
          FROM lines l
        ), versions AS (SELECT order_id, v, amount FROM ranked WHERE rk = 1),
        sums AS (SELECT order_id, v, sum(amount) AS total FROM versions GROUP BY order_id, v)
        SELECT o.id, s.total FROM orders o
        LEFT JOIN sums s ON (s.order_id = o.id) AND (s.v - o.v = 0)";

    fn column(values: impl Iterator<Item = i64>) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(values))
    }

    /// A session over LINES and ORDERS with four partitions and partitioned
    /// joins even for these few rows, deduping with lockstep's rules, with or
    /// without this one.
    fn session(hash_once: bool) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(4)
            .with_batch_size(2)
            .set_usize(
                "datafusion.optimizer.hash_join_single_partition_threshold",
                0,
            )
            .set_usize(
                "datafusion.optimizer.hash_join_single_partition_threshold_rows",
                0,
            );
        let mut builder = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(SortedRowNumber))
            .with_physical_optimizer_rule(Arc::new(LatestRow));
        if hash_once {
            builder = builder.with_physical_optimizer_rule(Arc::new(HashOnce));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        let lines = RecordBatch::try_from_iter(vec![
            ("id", column(LINES.iter().map(|l| l.0))),
            ("order_id", column(LINES.iter().map(|l| l.1))),
            ("v", column(LINES.iter().map(|l| l.2))),
            ("extracted", column(LINES.iter().map(|l| l.3))),
            ("amount", column(LINES.iter().map(|l| l.4))),
        ])
        .unwrap();
        let orders = RecordBatch::try_from_iter(vec![
            ("id", column(ORDERS.iter().map(|o| o.0))),
            ("v", column(ORDERS.iter().map(|o| o.1))),
        ])
        .unwrap();
        ctx.register_batch("lines", lines).unwrap();
        ctx.register_batch("orders", orders).unwrap();
        ctx
    }

    fn hash_repartitions(plan: &str) -> Vec<&str> {
        plan.lines()
            .filter(|l| l.contains("RepartitionExec: partitioning=Hash"))
            .map(str::trim)
            .collect()
    }

    #[tokio::test]
    async fn one_repartition_serves_dedupe_sum_and_join() {
        let plain = physical_plan(&session(false), SUMS).await;
        let folded = physical_plan(&session(true), SUMS).await;
        // Without the rule the lines are hashed three times, by each operator's
        // keys; the orders once.
        assert_eq!(hash_repartitions(&plain).len(), 4, "{plain}");
        // With it, the lines once, by order_id: the join's key, which the sum's
        // and the dedupe's keys contain.
        let hashed = hash_repartitions(&folded);
        assert_eq!(hashed.len(), 2, "{folded}");
        assert!(
            hashed
                .iter()
                .all(|l| l.contains("Hash([order_id@") || l.contains("Hash([id@")),
            "{folded}"
        );
        assert!(folded.contains("mode=SinglePartitioned"), "{folded}");
        assert!(!folded.contains("mode=Partial"), "{folded}");
    }

    #[tokio::test]
    async fn folded_plan_gives_the_same_rows() {
        // Order 1: line 10's later extraction (7) + line 11 (100); order 2: version
        // 3's lines (60 + 1); order 3 has no lines at version 2; order 4: 4.
        let expected = [
            "+----+-------+",
            "+----+-------+",
            "+----+-------+",
            "| 1  | 107   |",
            "| 2  | 61    |",
            "| 3  |       |",
            "| 4  | 4     |",
            "| id | total |",
        ];
        assert_eq!(sorted_lines(&session(true), SUMS).await, expected);
        assert_eq!(sorted_lines(&session(false), SUMS).await, expected);
    }

    #[tokio::test]
    async fn keys_outside_an_operators_requirement_are_not_folded() {
        // The sum is keyed by amount, which the dedupe's keys do not contain:
        // hashing the dedupe by amount would split a line's versions.
        let sql = "WITH ranked AS (
              SELECT l.*, row_number() OVER (PARTITION BY id, v, order_id ORDER BY extracted DESC) AS rk
              FROM lines l
            )
            SELECT amount, count(*) AS n FROM ranked WHERE rk = 1 GROUP BY amount";
        let plain = physical_plan(&session(false), sql).await;
        let folded = physical_plan(&session(true), sql).await;
        assert_eq!(hash_repartitions(&folded), hash_repartitions(&plain));
        assert_eq!(hash_repartitions(&folded).len(), 2, "{folded}");
        assert_eq!(
            sorted_lines(&session(true), sql).await,
            sorted_lines(&session(false), sql).await
        );
    }
}
