//! Errors of the warehouse layer.

use super::{LocationError, NameError};

/// Anything that can go wrong reading or writing warehouse tables.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The warehouse URL is unusable.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// A table name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The table does not exist.
    #[error("table {0} does not exist (run `lockstep status` to list tables)")]
    NotFound(String),
    /// Written batches do not match the table's schema.
    #[error("schema mismatch writing {table}: {detail}")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// What differs.
        detail: String,
    },
    /// The Delta log or its files failed.
    #[error("delta table {table}: {source}")]
    Delta {
        /// The table.
        table: String,
        /// Underlying error.
        #[source]
        source: deltalake::DeltaTableError,
    },
    /// Listing or reading the store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Query planning or execution failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed building a batch.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result alias for the warehouse layer.
pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

pub(crate) fn delta(
    table: &impl ToString,
) -> impl FnOnce(deltalake::DeltaTableError) -> WarehouseError {
    let table = table.to_string();
    move |source| WarehouseError::Delta { table, source }
}
