//! Which columns of a view its readers use, so a view computed once per run (see
//! `shared_views`) holds only those: staging views carry every raw column (JSON
//! blobs of discount codes, shipping and tax lines...) that no model reads, and
//! holding them would multiply the memory of a run (`stg_shop_orders` kept whole
//! was 43 columns, ~1.2 GB per million orders).
//!
//! The answer comes from DataFusion itself, worked out once when a run starts: in
//! a scratch session whose `models` schema holds a stand-in (an empty table with
//! the model's schema) for every model of the run, each reader's SQL is planned
//! and optimized, and the projection pushed into its scans of the view is what
//! that reader needs. The stand-ins are what make every reader plannable before
//! anything is built: a reader usually also reads other views of the run, which
//! the real session defines only as the build gets to them. A reader that still
//! cannot be planned, and any reader calling a table function that reads a source
//! given as a string, makes the answer "every column", which is always correct.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::catalog::empty::EmptyTable;
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList, MemorySchemaProvider,
    SchemaProvider,
};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::error::Result;
use super::project::Model;
use super::udf::SOURCE_TABLE_FUNCTIONS;

/// The schema models live in.
const MODELS: &str = "models";

/// For each of `views` (views of the run computed once), the names of its columns
/// that its readers among `models` use; a view whose readers may need every
/// column is absent. `models` are the run's models in dependency order; `ctx` is
/// the run's session before anything is built (it is not changed).
pub async fn used_columns(
    ctx: &SessionContext,
    models: &[&Model],
    views: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let started = std::time::Instant::now();
    let scratch = with_stand_ins(ctx, models).await?;
    let mut used = BTreeMap::new();
    for view in views {
        let name = TableReference::partial(MODELS, view.as_str());
        let Ok(stand_in) = scratch.table_provider(name.clone()).await else {
            continue;
        };
        let schema = stand_in.schema();
        let readers = models
            .iter()
            .filter(|m| m.model_deps().iter().any(|d| d.model == *view));
        let mut columns = BTreeSet::new();
        let mut every = false;
        for reader in readers {
            // One reader needing every column settles it: plan no more.
            let Some(indices) = read_by(&scratch, &name, reader).await else {
                every = true;
                break;
            };
            columns.extend(indices.into_iter().map(|i| schema.field(i).name().clone()));
        }
        if !every && columns.len() < schema.fields().len() {
            used.insert(view.clone(), columns);
        }
    }
    tracing::debug!(
        views = views.len(),
        narrowed = used.len(),
        ms = started.elapsed().as_millis() as u64,
        "shared views' columns"
    );
    Ok(used)
}

/// A session sharing `ctx`'s functions, settings and every schema but `models`,
/// whose `models` holds `ctx`'s model tables with a stand-in over each of
/// `models` (planned in order, so each plans against the stand-ins before it).
async fn with_stand_ins(ctx: &SessionContext, models: &[&Model]) -> Result<SessionContext> {
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
        .build();
    let scratch = SessionContext::new_with_state(state);
    // The warehouse's tables live in the session's default catalog.
    let default_catalog = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    let catalog = Arc::new(MemoryCatalogProvider::new());
    let stand_ins: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
    if let Some(real) = ctx.catalog(&default_catalog) {
        for schema in real.schema_names() {
            let Some(provider) = real.schema(&schema) else {
                continue;
            };
            if schema != MODELS {
                catalog.register_schema(&schema, provider)?;
                continue;
            }
            for table in provider.table_names() {
                if let Some(t) = provider.table(&table).await? {
                    stand_ins.register_table(table, t)?;
                }
            }
        }
    }
    catalog.register_schema(MODELS, stand_ins.clone())?;
    scratch.register_catalog(default_catalog, catalog);
    for model in models {
        // A model that does not plan gets no stand-in: its readers then count as
        // needing everything (and the build reports its error where it belongs).
        let Ok(plan) = scratch.state().create_logical_plan(&model.sql).await else {
            continue;
        };
        let schema = Arc::new(plan.schema().as_arrow().clone());
        stand_ins.deregister_table(&model.name)?;
        stand_ins.register_table(model.name.clone(), Arc::new(EmptyTable::new(schema)))?;
    }
    Ok(scratch)
}

/// The indices of `view`'s columns that `reader` scans: `None` if it cannot be
/// planned, scans every column, or reads a source given as a string.
async fn read_by(
    scratch: &SessionContext,
    view: &TableReference,
    reader: &Model,
) -> Option<BTreeSet<usize>> {
    let sql = reader.sql.to_ascii_lowercase();
    if SOURCE_TABLE_FUNCTIONS.iter().any(|f| sql.contains(f)) {
        return None;
    }
    let state = scratch.state();
    let plan = state.create_logical_plan(&reader.sql).await.ok()?;
    let plan = state.optimize(&plan).ok()?;
    let mut columns = Some(BTreeSet::new());
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.resolved_eq(view)
        {
            match (&scan.projection, columns.as_mut()) {
                (Some(projection), Some(set)) => set.extend(projection.iter().copied()),
                _ => columns = None,
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    columns
}
