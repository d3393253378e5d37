//! Record fidelity: the share of customers whose CRM record matches the warehouse on
//! total spend, last order date, order count and primary tag, within the seeds'
//! tolerance (`sql/fidelity.sql`). Each measurement is appended to `audit.fidelity`.

use std::sync::Arc;

use arrow::array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;

use crate::query::QueryError;
use crate::warehouse::{TableName, Warehouse, WarehouseError};

const SQL: &str = include_str!("../../sql/fidelity.sql");

/// One measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Fidelity {
    /// Customers compared (every row of the truth model).
    pub sampled: u64,
    /// Of those, found in the CRM by email.
    pub in_crm: u64,
    /// Matching on all four fields.
    pub matched: u64,
    /// `matched / sampled`, in percent.
    pub percent: f64,
    /// Mismatches per field.
    pub spend_mismatch: u64,
    /// Last order date off by more than a day.
    pub date_mismatch: u64,
    /// Order count off by more than one.
    pub count_mismatch: u64,
    /// Primary tag differs.
    pub tag_mismatch: u64,
}

/// Errors of an audit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A table is missing or unreadable.
    #[error(transparent)]
    Warehouse(Box<WarehouseError>),
    /// The audit query failed.
    #[error("audit query: {0}")]
    Query(Box<QueryError>),
    /// Building the result row failed.
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl From<WarehouseError> for AuditError {
    fn from(e: WarehouseError) -> Self {
        AuditError::Warehouse(Box::new(e))
    }
}

impl From<QueryError> for AuditError {
    fn from(e: QueryError) -> Self {
        AuditError::Query(Box::new(e))
    }
}

fn schema() -> SchemaRef {
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new(
            "measured_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("crm_table", DataType::Utf8, false),
        Field::new("truth_table", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        int("sampled"),
        int("in_crm"),
        int("matched"),
        Field::new("percent", DataType::Float64, false),
        int("spend_mismatch"),
        int("date_mismatch"),
        int("count_mismatch"),
        int("tag_mismatch"),
    ]))
}

fn count(batch: &RecordBatch, name: &str) -> u64 {
    batch
        .column_by_name(name)
        .and_then(|c| arrow::compute::cast(c, &DataType::Int64).ok())
        .and_then(|c| {
            let a = c.as_any().downcast_ref::<Int64Array>()?.clone();
            (!a.is_empty() && !a.is_null(0)).then(|| a.value(0).max(0) as u64)
        })
        .unwrap_or(0)
}

/// Measure fidelity of `crm` (landed contacts: email, total_spent, orders_count,
/// last_order_date, primary_tag as text) against `truth` (e.g. `models.crm_profiles`)
/// and record it under `label` in `audit.fidelity`.
pub async fn measure(
    warehouse: &Warehouse,
    crm: &TableName,
    truth: &TableName,
    label: &str,
) -> Result<Fidelity, AuditError> {
    let ctx = warehouse.session().await?;
    let sql = SQL
        .replace("{crm}", &crm.to_string())
        .replace("{truth}", &truth.to_string());
    let batches = crate::query::run(&ctx, &sql).await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Fidelity::default());
    };
    let sampled = count(batch, "sampled");
    let matched = count(batch, "matched");
    let f = Fidelity {
        sampled,
        in_crm: count(batch, "in_crm"),
        matched,
        percent: if sampled == 0 {
            100.0
        } else {
            100.0 * matched as f64 / sampled as f64
        },
        spend_mismatch: count(batch, "spend_mismatch"),
        date_mismatch: count(batch, "date_mismatch"),
        count_mismatch: count(batch, "count_mismatch"),
        tag_mismatch: count(batch, "tag_mismatch"),
    };
    let i = |v: u64| -> Arc<dyn Array> { Arc::new(Int64Array::from(vec![v as i64])) };
    let row = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from(vec![chrono::Utc::now().timestamp_micros()])
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![crm.to_string()])),
            Arc::new(StringArray::from(vec![truth.to_string()])),
            Arc::new(StringArray::from(vec![label])),
            i(f.sampled),
            i(f.in_crm),
            i(f.matched),
            Arc::new(Float64Array::from(vec![f.percent])),
            i(f.spend_mismatch),
            i(f.date_mismatch),
            i(f.count_mismatch),
            i(f.tag_mismatch),
        ],
    )?;
    let table =
        TableName::new("audit", "fidelity").unwrap_or_else(|_| unreachable!("valid literal"));
    warehouse.append(&table, schema(), vec![row]).await?;
    Ok(f)
}
