//! Diff: the rows of a model against the sync's snapshot of what the destination
//! acknowledged last, by key and at field level. The result is a plan — creates,
//! updates carrying only the fields that changed, deletes — stored in the warehouse
//! before anything is sent, so it can be inspected and applied exactly.
//!
//! The comparison runs over Arrow batches with 128-bit key hashes and 64-bit row and
//! field fingerprints (`canonical`), not as a SQL join: a first pass over the
//! snapshot keeps only key → row fingerprint, and only the keys that changed or left
//! are read again for their field fingerprints. An unchanged model costs one
//! streaming read of each table and produces an empty plan.

pub mod canonical;
mod columns;
mod compute;
mod key_table;
pub mod plan;
mod scan;
pub mod snapshot;
mod spec;

pub use compute::{Counts, Diff, baseline, diff};
pub use plan::Plan;
pub use spec::{Mapped, Mode, SyncSpec};

use crate::warehouse::WarehouseError;

/// What a change does at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The key is new to the destination (as far as the snapshot knows).
    Create,
    /// Some fields changed; only those are sent.
    Update,
    /// The row left the model (mirror mode): delete, or clear the synced fields.
    Delete,
}

impl Op {
    /// Lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// The inverse of [`Op::as_str`].
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "create" => Some(Op::Create),
            "update" => Some(Op::Update),
            "delete" => Some(Op::Delete),
            _ => None,
        }
    }
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What to do.
    pub op: Op,
    /// The key value (the destination's key property).
    pub key: String,
    /// The destination's record id, when an earlier sync learned it.
    pub dest_id: Option<String>,
    /// Fields to send, as indexes into the sync's field list, with their values
    /// (`None` clears the field).
    pub values: Vec<(usize, Option<String>)>,
    /// Fingerprint of the model row (recorded in the snapshot on acknowledgement).
    pub row_hash: u64,
    /// Fingerprint of every field, aligned with the sync's field list.
    pub field_hashes: Vec<u64>,
}

/// Errors of diffing and planning.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Reading or writing a warehouse table failed.
    #[error(transparent)]
    Warehouse(Box<WarehouseError>),
    /// A query over a warehouse table failed.
    #[error("{0}")]
    Query(Box<datafusion::error::DataFusionError>),
    /// Building a batch failed.
    #[error("{0}")]
    Arrow(Box<arrow::error::ArrowError>),
    /// A column is missing or has no usable form.
    #[error("{0}")]
    Column(String),
    /// The model rows cannot be keyed: NULL or duplicate keys.
    #[error("sync {sync}: {problem}")]
    Keys {
        /// The sync.
        sync: String,
        /// What is wrong, with examples.
        problem: String,
    },
    /// The sync definition does not fit the model.
    #[error("{0}")]
    Spec(String),
    /// A stored plan is missing, malformed or stale.
    #[error("plan {id}: {problem}")]
    Plan {
        /// The plan id.
        id: String,
        /// What is wrong.
        problem: String,
    },
}

impl From<WarehouseError> for DiffError {
    fn from(e: WarehouseError) -> Self {
        DiffError::Warehouse(Box::new(e))
    }
}

impl From<datafusion::error::DataFusionError> for DiffError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        DiffError::Query(Box::new(e))
    }
}

impl From<arrow::error::ArrowError> for DiffError {
    fn from(e: arrow::error::ArrowError) -> Self {
        DiffError::Arrow(Box::new(e))
    }
}
