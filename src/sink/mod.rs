//! Sink: applying a plan to a destination. Connectors implement [`Destination`]
//! (how one batch of changes becomes API calls and what each row's outcome was);
//! this module owns everything else — batching, concurrency, splitting a batch the
//! destination refuses as a whole until the bad rows are isolated, keeping rejected
//! rows with their reason, and advancing the snapshot only for acknowledged rows.
//! Pacing and retries of single requests live in `crate::http`, shared with
//! extraction. It knows no platform.

mod apply;
mod sync;
pub mod tables;

use async_trait::async_trait;

pub use apply::{ApplyOptions, RunReport, apply};
pub use sync::{SyncError, SyncOptions, SyncOutcome, gate, plan, sync};

use crate::diff::{Change, Op};
use crate::http::{Counters, HttpError};

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The destination acknowledged the write.
    Acked {
        /// The destination's record id, when it said.
        dest_id: Option<String>,
    },
    /// The destination refused this row; it stays out of the snapshot and is
    /// planned again next run.
    Rejected {
        /// The destination's reason.
        reason: String,
    },
}

/// A batch-level failure.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The destination refused the batch as a whole (400 for one bad row, payload
    /// too large...). The engine splits it to isolate the rows at fault.
    #[error("batch refused: {0}")]
    BatchRefused(String),
    /// Calls failed for good (auth, retries exhausted): the run stops; what was
    /// acknowledged so far is kept.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The destination answered something we cannot interpret.
    #[error("{0}")]
    Protocol(String),
}

/// A system a sync writes to: one object of one platform, configured for one sync.
#[async_trait]
pub trait Destination: Send + Sync {
    /// Who this is, for messages (`hubspot destination 'crm' contacts`).
    fn describe(&self) -> String;
    /// Most rows one call of [`Destination::write`] takes for `op`.
    fn batch_size(&self, op: Op, planned: usize) -> usize;
    /// Batches in flight at once.
    fn concurrency(&self) -> usize {
        4
    }
    /// Apply `rows` (all with the same `op`) and say what became of each, in order.
    async fn write(&self, op: Op, rows: &[Change]) -> Result<Vec<Outcome>, SinkError>;
    /// API calls made so far.
    fn counters(&self) -> Counters;
}
