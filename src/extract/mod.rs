//! Extraction: platform records → append-only `raw_<source>.<entity>` Delta tables.
//! Connectors implement [`Stream`] (how to page a platform); this module owns the
//! drivers (incremental by `updated_at` cursor, resumable windowed backfill), the
//! typed landing columns, progress and run records. It knows no platform.

pub mod backfill;
pub mod columns;
pub mod incremental;
mod land;
mod money;
pub(crate) mod progress;
pub mod raw_text;
pub mod run;
pub mod runs;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

pub use columns::{Column, EntitySchema, Kind, col};

use crate::http::HttpError;
use crate::warehouse::WarehouseError;

/// Anything that stops an extraction.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The platform call failed (auth, status, retries exhausted).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A typed field changed type.
    #[error(transparent)]
    Drift(Box<columns::DriftError>),
    /// The platform answered something we cannot read.
    #[error("{who}: unexpected response: {detail}")]
    Protocol {
        /// Platform and config name.
        who: String,
        /// What was wrong.
        detail: String,
    },
    /// A bulk export failed or timed out on the platform's side (the backfill driver
    /// retries it with a smaller window).
    #[error("{who}: bulk export {status}: {detail}")]
    BulkFailed {
        /// Platform and config name.
        who: String,
        /// Final status (FAILED, TIMEOUT, ...).
        status: String,
        /// Error code or message.
        detail: String,
    },
    /// Reading or writing the warehouse failed.
    #[error(transparent)]
    Warehouse(Box<WarehouseError>),
    /// Building Arrow data failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A user request that cannot be served.
    #[error("{0}")]
    Usage(String),
}

impl From<columns::DriftError> for ExtractError {
    fn from(e: columns::DriftError) -> Self {
        ExtractError::Drift(Box::new(e))
    }
}

impl From<WarehouseError> for ExtractError {
    fn from(e: WarehouseError) -> Self {
        ExtractError::Warehouse(Box::new(e))
    }
}

impl ExtractError {
    /// The platform (`who`) answered something we cannot read.
    pub fn protocol(who: &str, detail: impl Into<String>) -> Self {
        ExtractError::Protocol {
            who: who.to_string(),
            detail: detail.into(),
        }
    }
}

/// Parse a reply body as JSON; `what` (e.g. `GET /api/profiles`) names the call.
pub fn parse_json(who: &str, body: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ExtractError::protocol(who, format!("{what}: body is not JSON: {e}")))
}

/// Result alias.
pub type Result<T, E = ExtractError> = std::result::Result<T, E>;

/// One platform record with what it lands as: its own row and derived child rows
/// (order → line items, refunds, ...), which stand or fall together.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The record's id, as text (Shopify and HubSpot ids are numbers, Klaviyo's are
    /// ULIDs).
    pub key: String,
    /// Its `updated_at`, µs since the epoch (the cursor field).
    pub updated_at_us: i64,
    /// Rows with the schema that reads them (the primary entity and its children).
    /// Different payload shapes of one entity (REST, GraphQL) have different schemas
    /// with the same entity name and columns, and land in the same table.
    pub rows: Vec<(&'static EntitySchema, Value)>,
}

/// What a stream is asked for.
#[derive(Debug, Clone, Copy)]
pub enum Request {
    /// Records updated at or after this instant (all records when `None`), oldest
    /// first.
    UpdatedSince(Option<DateTime<Utc>>),
    /// Records updated in `[from, to)` (a backfill window, when paged rather than
    /// exported through [`Stream::bulk`]).
    Window {
        /// Inclusive start.
        from: DateTime<Utc>,
        /// Exclusive end.
        to: DateTime<Utc>,
    },
}

/// Sending side for a stream's pages of units.
pub type PageSender = mpsc::Sender<Result<Vec<Unit>>>;

/// One extractable stream of a source (customers, orders, contacts, ...).
#[async_trait]
pub trait Stream: Send + Sync {
    /// Stream name, as in `lockstep extract shopify.orders`.
    fn name(&self) -> &'static str;
    /// The entities it lands; the first is the primary one (it carries the cursor).
    fn entities(&self) -> &'static [&'static EntitySchema];
    /// Fetch `request`, sending pages of units in cursor order. Returning ends the
    /// stream.
    async fn fetch(&self, request: Request, pages: PageSender) -> Result<()>;
    /// How many records `request` will yield, when the platform says so cheaply (for
    /// a progress ETA).
    async fn estimate(&self, _request: Request) -> Option<u64> {
        None
    }
    /// The platform's bulk export of this stream, if it has one: backfill windows
    /// then arrive as ready column data instead of pages of JSON units.
    fn bulk(&self) -> Option<std::sync::Arc<dyn BulkExport>> {
        None
    }
}

/// `(key, updated_at µs)` of primary records already landed: a bulk export leaves
/// them (and their child rows) out.
pub type Landed = std::collections::HashSet<(String, i64)>;

/// One window of a bulk export in landing form.
#[derive(Debug, Default)]
pub struct Export {
    /// Per entity: its typed columns followed by `_raw`, in the entity's column order
    /// (the landing adds `_extracted_at` and `_batch_id`).
    pub columns: Vec<(&'static EntitySchema, Vec<arrow::array::ArrayRef>)>,
    /// Primary records in the export.
    pub units: u64,
    /// Primary records left out as already landed.
    pub skipped: u64,
    /// Largest primary `updated_at` exported, µs.
    pub max_updated_at_us: Option<i64>,
}

/// A platform's bulk export (Shopify GraphQL Bulk Operations): everything updated in
/// `[from, to)` in one asynchronous job. A job the platform fails or that runs too
/// long ends in [`ExtractError::BulkFailed`], and the backfill retries the window in
/// halves.
#[async_trait]
pub trait BulkExport: Send + Sync {
    /// Export the window, leaving out the versions in `skip`.
    async fn export(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        skip: std::sync::Arc<Landed>,
    ) -> Result<Export>;
}

/// Request/throttle counters of a source's API clients, for run records.
pub use crate::http::Counters as ApiCounters;

/// A configured source: a name and its streams.
pub trait Source: Send + Sync {
    /// The name in lockstep.toml (`[sources.<name>]`); tables are `raw_<name>.*`.
    fn name(&self) -> &str;
    /// Streams in landing order (parents before what may reference them).
    fn streams(&self) -> Vec<std::sync::Arc<dyn Stream>>;
    /// What the API clients did so far.
    fn counters(&self) -> ApiCounters;
}

/// Per-stream outcome of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StreamReport {
    /// `<source>.<stream>`.
    pub stream: String,
    /// Rows landed per entity.
    pub rows: BTreeMap<String, u64>,
    /// Units fetched but already landed (lookback overlap), skipped.
    pub skipped: u64,
    /// Cursor after the run (RFC 3339), if any.
    pub cursor: Option<String>,
    /// Backfill windows landed in this run / already done before it.
    pub windows_landed: u64,
    /// Backfill windows found already landed (resumed).
    pub windows_skipped: u64,
    /// Seconds taken.
    pub seconds: f64,
}

impl StreamReport {
    /// Rows of the primary entity.
    pub fn primary_rows(&self, stream: &dyn Stream) -> u64 {
        stream
            .entities()
            .first()
            .and_then(|e| self.rows.get(e.entity))
            .copied()
            .unwrap_or(0)
    }
}
