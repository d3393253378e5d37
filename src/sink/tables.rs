//! The sink's warehouse tables: `syncs.results` (every row a run sent, with its
//! outcome), `syncs.rejects` (rows the destination refused, with the values and the
//! reason, to fix and retry) and `syncs.runs` (one row per sync run: counts, API
//! calls, 429s, status). All queryable with `lockstep sql`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use super::apply::RunReport;
use crate::warehouse::{Result, TableName, Warehouse};

fn table(name: &str) -> TableName {
    TableName::new("syncs", name).unwrap_or_else(|_| unreachable!("valid literal"))
}

/// `syncs.results`
pub fn results_table() -> TableName {
    table("results")
}

/// `syncs.rejects`
pub fn rejects_table() -> TableName {
    table("rejects")
}

/// `syncs.runs`
pub fn runs_table() -> TableName {
    table("runs")
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("run_id", false),
        text("sync", false),
        text("plan_id", false),
        text("key", false),
        text("op", false),
        text("status", false),
        text("dest_id", true),
        text("fields", false),
        text("reason", true),
        Field::new("at", ts(), false),
    ]))
}

fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("run_id", false),
        text("sync", false),
        text("plan_id", false),
        text("key", false),
        text("op", false),
        text("values", false),
        text("reason", false),
        Field::new("at", ts(), false),
    ]))
}

fn runs_schema() -> SchemaRef {
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("run_id", false),
        text("sync", false),
        text("plan_id", false),
        Field::new("dry_run", DataType::Boolean, false),
        Field::new("started_at", ts(), false),
        Field::new("finished_at", ts(), false),
        text("status", false),
        int("creates"),
        int("updates"),
        int("deletes"),
        int("acked"),
        int("rejected"),
        int("requests"),
        int("throttled"),
        int("retries"),
        text("error", true),
    ]))
}

/// One row's outcome, as `syncs.results` records it.
#[derive(Debug, Clone)]
pub struct ResultRow {
    /// The key.
    pub key: String,
    /// `create`, `update`, `delete`.
    pub op: &'static str,
    /// `acked` or `rejected`.
    pub status: &'static str,
    /// The destination's id, when known.
    pub dest_id: Option<String>,
    /// Fields sent, comma-separated.
    pub fields: String,
    /// The values sent (JSON), kept for rejects.
    pub values: String,
    /// Why it was rejected.
    pub reason: Option<String>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn stamp(n: usize, at: DateTime<Utc>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(vec![micros(at); n]).with_timezone("UTC"))
}

fn repeat(n: usize, s: &str) -> ArrayRef {
    Arc::new(StringArray::from(vec![s; n]))
}

/// Append a flush's results, and its rejected rows to the rejects table.
pub async fn record_results(
    warehouse: &Warehouse,
    run: (&str, &str, &str),
    rows: &[ResultRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (run_id, sync, plan_id) = run;
    let now = Utc::now();
    let n = rows.len();
    let batch = RecordBatch::try_new(
        results_schema(),
        vec![
            repeat(n, run_id),
            repeat(n, sync),
            repeat(n, plan_id),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.key))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.op))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.status))),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.dest_id.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.fields),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.reason.as_deref()),
            )),
            stamp(n, now),
        ],
    )?;
    warehouse
        .append(&results_table(), results_schema(), vec![batch])
        .await?;
    let rejected: Vec<&ResultRow> = rows.iter().filter(|r| r.reason.is_some()).collect();
    if rejected.is_empty() {
        return Ok(());
    }
    let n = rejected.len();
    let batch = RecordBatch::try_new(
        rejects_schema(),
        vec![
            repeat(n, run_id),
            repeat(n, sync),
            repeat(n, plan_id),
            Arc::new(StringArray::from_iter_values(
                rejected.iter().map(|r| &r.key),
            )),
            Arc::new(StringArray::from_iter_values(rejected.iter().map(|r| r.op))),
            Arc::new(StringArray::from_iter_values(
                rejected.iter().map(|r| &r.values),
            )),
            Arc::new(StringArray::from_iter_values(
                rejected
                    .iter()
                    .map(|r| r.reason.as_deref().unwrap_or_default()),
            )),
            stamp(n, now),
        ],
    )?;
    warehouse
        .append(&rejects_table(), rejects_schema(), vec![batch])
        .await?;
    Ok(())
}

/// Append the record of a finished (or failed) run.
pub async fn record_run(warehouse: &Warehouse, r: &RunReport) -> Result<()> {
    let i = |v: u64| -> ArrayRef { Arc::new(Int64Array::from(vec![v as i64])) };
    let batch = RecordBatch::try_new(
        runs_schema(),
        vec![
            repeat(1, &r.run_id),
            repeat(1, &r.sync),
            repeat(1, &r.plan_id),
            Arc::new(BooleanArray::from(vec![r.dry_run])),
            stamp(1, r.started_at),
            stamp(1, r.finished_at),
            repeat(1, &r.status),
            i(r.planned.creates),
            i(r.planned.updates),
            i(r.planned.deletes),
            i(r.acked),
            i(r.rejected),
            i(r.api.requests),
            i(r.api.throttled),
            i(r.api.retries),
            Arc::new(StringArray::from(vec![r.error.as_deref()])),
        ],
    )?;
    warehouse
        .append(&runs_table(), runs_schema(), vec![batch])
        .await?;
    Ok(())
}
