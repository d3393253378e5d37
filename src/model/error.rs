//! Errors of the model engine. Every error an analytics engineer can fix names the
//! file and, where known, the line and column, on one line: the CLI prints it as is.

use crate::query::QueryError;
use crate::warehouse::WarehouseError;

/// Anything that can go wrong discovering, planning, building or testing models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model, properties or test file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file, relative to the project.
        file: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Something at a known place in a file: SQL errors, unknown tables, YAML errors.
    #[error("{file}:{line}:{column}: {message}")]
    Located {
        /// The file, relative to the project.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong, on one line.
        message: String,
    },
    /// Something about a whole file (no better position known).
    #[error("{file}: {message}")]
    File {
        /// The file, relative to the project.
        file: String,
        /// What is wrong, on one line.
        message: String,
    },
    /// Models read each other in a circle.
    #[error("{at}: cycle between models: {path}")]
    Cycle {
        /// `file:line:column` of one reference that closes the cycle.
        at: String,
        /// The members in order, each with where it reads the next.
        path: String,
    },
    /// `--select` names a model that does not exist.
    #[error("--select: no model named {name:?} (known: {known})")]
    UnknownSelection {
        /// The name asked for.
        name: String,
        /// The model names, comma separated.
        known: String,
    },
    /// A data test's results could not be recorded or read.
    #[error("test results: {0}")]
    Results(String),
    /// The warehouse failed (boxed: the warehouse error is large and rare).
    #[error(transparent)]
    Warehouse(Box<WarehouseError>),
    /// DataFusion failed outside any one model's SQL.
    #[error(transparent)]
    DataFusion(Box<datafusion::error::DataFusionError>),
}

/// Result alias of the model engine.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl From<WarehouseError> for ModelError {
    fn from(e: WarehouseError) -> Self {
        ModelError::Warehouse(Box::new(e))
    }
}

impl From<datafusion::error::DataFusionError> for ModelError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ModelError::DataFusion(Box::new(e))
    }
}

impl ModelError {
    /// Place a query error in `file` (its positions are the file's, since sugar
    /// rewriting keeps lines and columns).
    pub fn in_file(file: &str, err: QueryError) -> ModelError {
        match err.position {
            Some((line, column)) => ModelError::Located {
                file: file.to_string(),
                line,
                column,
                message: err.message,
            },
            None => ModelError::File {
                file: file.to_string(),
                message: err.message,
            },
        }
    }

    /// An error at `line:column` of `file`.
    pub fn at(file: &str, line: u64, column: u64, message: impl Into<String>) -> ModelError {
        ModelError::Located {
            file: file.to_string(),
            line: line.max(1),
            column: column.max(1),
            message: message.into().replace('\n', " "),
        }
    }
}
