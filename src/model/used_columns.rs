//! Which columns of a view its readers use, so a view computed once per run (see
//! `shared_views`) holds only those: staging views carry every raw column (JSON
//! blobs of discount codes, shipping and tax lines...) that no model reads, and
//! holding them would multiply the memory of a run.
//!
//! The answer comes from DataFusion itself: each reader's SQL is planned and
//! optimized against a stand-in for the view (an empty table with its schema), and
//! the projection pushed into the stand-in's scans is what that reader needs. Any
//! reader that cannot be planned yet (it reads a table this run has not built yet,
//! or a view not defined yet), and any reader calling a table function that reads
//! a source given as a string, makes the answer "every column", which is always
//! correct.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::empty::EmptyTable;
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::error::Result;
use super::project::Model;
use super::udf::SOURCE_TABLE_FUNCTIONS;

/// The indices of `schema`'s columns that `readers` use when `name` is that view,
/// in order; `None` when every column may be needed. Leaves a stand-in registered
/// as `name`: the caller registers the real table over it.
pub async fn used_columns(
    ctx: &SessionContext,
    name: &TableReference,
    schema: SchemaRef,
    readers: &[&Model],
) -> Result<Option<Vec<usize>>> {
    ctx.deregister_table(name.clone())?;
    ctx.register_table(name.clone(), Arc::new(EmptyTable::new(schema.clone())))?;
    let mut used = BTreeSet::new();
    for reader in readers {
        // A table function reads its source from a string, outside the plan:
        // assume it needs everything.
        let sql = reader.sql.to_ascii_lowercase();
        if SOURCE_TABLE_FUNCTIONS.iter().any(|f| sql.contains(f)) {
            return Ok(None);
        }
        match scanned(ctx, name, &reader.sql).await {
            Some(Some(columns)) => used.extend(columns),
            // A scan of every column, or a reader that cannot be planned now.
            Some(None) | None => return Ok(None),
        }
    }
    if used.len() == schema.fields().len() {
        return Ok(None);
    }
    Ok(Some(used.into_iter().collect()))
}

/// The columns of `name` that `sql` scans: `None` if it cannot be planned,
/// `Some(None)` if some scan reads every column.
async fn scanned(
    ctx: &SessionContext,
    name: &TableReference,
    sql: &str,
) -> Option<Option<BTreeSet<usize>>> {
    let state = ctx.state();
    let plan = state.create_logical_plan(sql).await.ok()?;
    let plan = state.optimize(&plan).ok()?;
    let mut columns = Some(BTreeSet::new());
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.resolved_eq(name)
        {
            match (&scan.projection, columns.as_mut()) {
                (Some(projection), Some(set)) => set.extend(projection.iter().copied()),
                _ => columns = None,
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    Some(columns)
}
