//! Registering warehouse tables in DataFusion: one SQL schema per area, so
//! `SELECT * FROM raw_shopify.orders` and `models.golden_customers` resolve. Each table
//! is pinned to the version that was latest when the session was built, so one query
//! reads one consistent snapshot per table.

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use super::error::delta;
use super::{Result, TableName, Warehouse};

/// The catalog name lockstep uses in DataFusion.
pub const CATALOG: &str = "lockstep";

impl Warehouse {
    /// A new DataFusion session with every warehouse table registered, reading
    /// Parquet as delta-rs does when not told otherwise: text as string views, scan
    /// filters pushed into the Parquet reader.
    pub async fn session(&self) -> Result<SessionContext> {
        self.session_with(|config| config).await
    }

    /// A new DataFusion session with every warehouse table registered, its options
    /// (the Parquet reading ones included: the tables' scans follow them) adjusted
    /// by `configure`.
    pub async fn session_with(
        &self,
        configure: impl FnOnce(SessionConfig) -> SessionConfig,
    ) -> Result<SessionContext> {
        // Scan filters stay inside the Parquet reader, as delta-rs has them by
        // default. With DataFusion's default (off), a filter above the scan could
        // let an expression meet rows the WHERE excludes: a model's
        // CAST(substr(node, 8) AS BIGINT) behind a starts_with() failed that way.
        let defaults = crate::query::configure(SessionConfig::new())
            .set_bool("datafusion.execution.parquet.pushdown_filters", true);
        let config = configure(defaults)
            .with_default_catalog_and_schema(CATALOG, "models")
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(true);
        let ctx = SessionContext::new_with_config(config);
        for name in self.list_tables().await? {
            self.register(&ctx, &name).await?;
        }
        Ok(ctx)
    }

    /// One table at its latest version as a DataFrame in a session of its own, or
    /// `None` if it has never been written (state reads, landed-version checks).
    pub async fn scan(&self, name: &TableName) -> Result<Option<DataFrame>> {
        let Some(table) = self.load(name).await? else {
            return Ok(None);
        };
        let ctx = SessionContext::new();
        table
            .update_datafusion_session(&ctx.state())
            .map_err(delta(name))?;
        Ok(Some(ctx.read_table(table.table_provider().await?)?))
    }

    /// Register (or re-register at its latest version) one table in `ctx`, its scans
    /// reading Parquet with `ctx`'s options (string views or plain text, filter
    /// pushdown); without the session delta-rs would use its own defaults whatever
    /// the session says.
    pub async fn register(&self, ctx: &SessionContext, name: &TableName) -> Result<()> {
        let table = self.require(name).await?;
        let state = ctx.state();
        table
            .update_datafusion_session(&state)
            .map_err(delta(name))?;
        let provider = table.table_provider().with_session(Arc::new(state)).await?;
        let catalog = ctx.catalog(CATALOG).ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(format!("catalog {CATALOG} missing"))
        })?;
        let schema: Arc<dyn SchemaProvider> = match catalog.schema(name.area()) {
            Some(schema) => schema,
            None => {
                let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                catalog.register_schema(name.area(), schema.clone())?;
                schema
            }
        };
        schema.deregister_table(name.name())?;
        schema.register_table(name.name().to_string(), provider)?;
        Ok(())
    }
}
