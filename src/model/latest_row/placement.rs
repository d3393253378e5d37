//! Where a dedupe's rows go: the physical optimizer rule (run last) that drops
//! the hash repartition under a [`LatestRowExec`] when nothing above relies on
//! the output being partitioned by its keys, so that the rows stay where they
//! were read (see `in_place`).
//!
//! Something relies on it when it requires its input partitioned by keys (a
//! partitioned join or aggregate, whose repartition DataFusion then left out),
//! directly or through operators that declare the same hash partitioning on
//! their output. A shared view's rows, a table's write, or a repartition by
//! other keys do not. The repartition is only dropped when its input has as many
//! partitions, so the work stays as parallel.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::physical_expr::{Distribution, Partitioning};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use super::{LatestRowExec, with_children_rewritten};

/// The physical optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub struct RowsInPlace;

impl PhysicalOptimizerRule for RowsInPlace {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite(plan, false)
    }

    fn name(&self) -> &str {
        "latest_row_in_place"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with each dedupe whose partitioning nothing uses left in place;
/// `relied_on` says whether something above uses `plan`'s hash partitioning.
fn rewrite(plan: Arc<dyn ExecutionPlan>, relied_on: bool) -> Result<Arc<dyn ExecutionPlan>> {
    if !relied_on
        && let Some(latest) = plan.downcast_ref::<LatestRowExec>()
        && let Some(repartition) = latest.input().downcast_ref::<RepartitionExec>()
        && matches!(repartition.partitioning(), Partitioning::Hash(..))
        && !repartition.preserve_order()
        && repartition.input().output_partitioning().partition_count()
            == repartition.partitioning().partition_count()
    {
        let input = rewrite(Arc::clone(repartition.input()), false)?;
        return Ok(Arc::new(latest.in_place(input)));
    }
    // A hash partitioning above can only come from here if `plan` declares one.
    let passes_on = relied_on && matches!(plan.output_partitioning(), Partitioning::Hash(..));
    let requirements = plan.input_distribution_requirements();
    with_children_rewritten(plan, rewrite, |i| {
        let keyed = matches!(
            requirements.child_distribution(i),
            Some(Distribution::KeyPartitioned(_))
        );
        keyed || passes_on
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use crate::model::latest_row::LatestRow;
    use crate::model::row_number::SortedRowNumber;
    use crate::model::row_number::tests::{physical_plan as plan, session_with, sorted_lines};

    /// Versions (id, v, tag) read in two partitions: ids 1-3 have versions in
    /// both, the newest in either.
    const READ: [&[(i64, Option<i64>, &str)]; 2] = [
        &[
            (1, Some(1), "1-old"),
            (2, Some(5), "2-new"),
            (3, Some(1), "3-old"),
            (5, None, "5-null"),
        ],
        &[
            (1, Some(3), "1-new"),
            (2, Some(4), "2-old"),
            (4, Some(1), "4"),
            (3, Some(2), "3-new"),
            (5, Some(9), "5-nine"),
        ],
    ];

    /// A session over READ (two partitions, as many as the session's target)
    /// deduping with lockstep's rules (this one last), or with DataFusion's
    /// operators alone.
    fn session(with_rules: bool) -> SessionContext {
        let rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> = if with_rules {
            vec![
                Arc::new(SortedRowNumber),
                Arc::new(LatestRow),
                Arc::new(RowsInPlace),
            ]
        } else {
            Vec::new()
        };
        let ctx = session_with(rules, 2);
        let batch = |rows: &[(i64, Option<i64>, &str)]| {
            RecordBatch::try_from_iter(vec![
                (
                    "id",
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
                ),
                (
                    "v",
                    Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
                ),
                (
                    "tag",
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))) as ArrayRef,
                ),
            ])
            .unwrap()
        };
        let partitions: Vec<Vec<RecordBatch>> = READ.iter().map(|p| vec![batch(p)]).collect();
        let table = MemTable::try_new(partitions[0][0].schema(), partitions).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        ctx
    }

    const LATEST: &str = "SELECT id, tag FROM (SELECT t.*, row_number() OVER (PARTITION BY id ORDER BY v DESC) AS rn FROM t) WHERE rn = 1";

    #[tokio::test]
    async fn rows_stay_in_place_when_nothing_relies_on_their_spread() {
        let fast = plan(&session(true), LATEST).await;
        assert!(
            fast.contains("LatestRowExec") && fast.contains("in_place"),
            "{fast}"
        );
        assert!(!fast.contains("RepartitionExec"), "{fast}");
        let kept = sorted_lines(&session(true), LATEST).await;
        assert_eq!(kept, sorted_lines(&session(false), LATEST).await);
        // The newest version of each id wins whichever partition it was read in
        // (DESC puts NULLs first: 5 keeps its NULL version).
        for tag in ["1-new", "2-new", "3-new", "4", "5-null"] {
            assert!(kept.iter().any(|l| l.contains(tag)), "{tag}: {kept:?}");
        }
        assert_eq!(kept.len(), 5 + 4, "{kept:?}");
    }

    #[tokio::test]
    async fn a_count_of_in_place_winners_counts_each_key_once() {
        let sql = format!("SELECT count(*) AS n FROM ({LATEST})");
        let fast = plan(&session(true), &sql).await;
        assert!(fast.contains("in_place"), "{fast}");
        let out = sorted_lines(&session(true), &sql).await;
        assert!(out.iter().any(|l| l == "| 5 |"), "{out:?}");
    }

    #[tokio::test]
    async fn a_partitioned_join_on_the_keys_keeps_the_spread() {
        // The join on id uses the dedupe's partitioning by id (DataFusion put no
        // repartition between them): the rows must still move.
        let joined = || {
            let ctx = session(true);
            let state = ctx.state_ref();
            let mut state = state.write();
            let optimizer = &mut state.config_mut().options_mut().optimizer;
            optimizer.hash_join_single_partition_threshold = 0;
            optimizer.hash_join_single_partition_threshold_rows = 0;
            drop(state);
            ctx
        };
        let sql = format!("SELECT l.id, l.tag, t.v FROM ({LATEST}) l JOIN t ON l.id = t.id");
        let fast = plan(&joined(), &sql).await;
        assert!(fast.contains("mode=Partitioned"), "{fast}");
        assert!(fast.contains("LatestRowExec"), "{fast}");
        assert!(!fast.contains("in_place"), "{fast}");
        let rows = sorted_lines(&joined(), &sql).await;
        assert_eq!(rows, sorted_lines(&session(false), &sql).await);
        // Each id's one winner, joined to each of its versions.
        assert_eq!(rows.len(), READ[0].len() + READ[1].len() + 4, "{rows:?}");
    }
}
