//! Run records: every extract or backfill run appends one row per stream to
//! `meta.extract_runs` — what ran, when, how much it landed, what the API did, and
//! the error if it failed — queryable like any other table.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use super::{ApiCounters, Result};
use crate::warehouse::{TableName, Warehouse};

/// One stream's run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Shared by all streams of one invocation.
    pub run_id: String,
    /// `incremental` or `backfill`.
    pub mode: &'static str,
    /// Source name.
    pub source: String,
    /// Stream name.
    pub stream: String,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time.
    pub finished_at: DateTime<Utc>,
    /// `ok` or `failed`.
    pub status: &'static str,
    /// Primary rows landed.
    pub rows: u64,
    /// API counters over the run.
    pub api: ApiCounters,
    /// Cursor after the run.
    pub cursor: Option<String>,
    /// Error text, for failed runs.
    pub error: Option<String>,
}

fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("stream", DataType::Utf8, false),
        Field::new("started_at", ts.clone(), false),
        Field::new("finished_at", ts, false),
        Field::new("seconds", DataType::Float64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("requests", DataType::Int64, false),
        Field::new("throttled", DataType::Int64, false),
        Field::new("retries", DataType::Int64, false),
        Field::new("cursor", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
    ]))
}

/// Append run records to `meta.extract_runs`.
pub async fn record(warehouse: &Warehouse, runs: &[RunRecord]) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let i64s =
        |f: fn(&RunRecord) -> i64| Arc::new(Int64Array::from_iter_values(runs.iter().map(f)));
    let strs =
        |f: fn(&RunRecord) -> &str| Arc::new(StringArray::from_iter_values(runs.iter().map(f)));
    let times = |f: fn(&RunRecord) -> DateTime<Utc>| {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                runs.iter().map(|r| f(r).timestamp_micros()),
            )
            .with_timezone("UTC"),
        )
    };
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            strs(|r| &r.run_id),
            strs(|r| r.mode),
            strs(|r| &r.source),
            strs(|r| &r.stream),
            times(|r| r.started_at),
            times(|r| r.finished_at),
            Arc::new(Float64Array::from_iter_values(
                runs.iter()
                    .map(|r| (r.finished_at - r.started_at).as_seconds_f64()),
            )),
            strs(|r| r.status),
            i64s(|r| r.rows as i64),
            i64s(|r| r.api.requests as i64),
            i64s(|r| r.api.throttled as i64),
            i64s(|r| r.api.retries as i64),
            Arc::new(StringArray::from_iter(
                runs.iter().map(|r| r.cursor.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                runs.iter().map(|r| r.error.as_deref()),
            )),
        ],
    )?;
    let table =
        TableName::new("meta", "extract_runs").map_err(crate::warehouse::WarehouseError::from)?;
    warehouse.append(&table, schema(), vec![batch]).await?;
    Ok(())
}
