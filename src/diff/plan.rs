//! Plans as warehouse tables: `syncs.plan_rows` holds every change of a plan (op,
//! key, the fields and values to send, the fingerprints to record on
//! acknowledgement) and `syncs.plans` one header row per plan. Rows are written
//! before the header, so a plan with a header is complete; `lockstep sync --plan ID`
//! applies exactly those rows.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion::prelude::{col, lit};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};

use super::canonical::{pack, unpack};
use super::{Change, Counts, Diff, DiffError, Op, SyncSpec};
use crate::warehouse::{TableName, Warehouse};

/// A plan: a diff frozen under an id.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Plan id (`<sync>-<UTC time>-<random>`).
    pub id: String,
    /// The sync.
    pub sync: String,
    /// The model read.
    pub model: String,
    /// Its Delta version.
    pub model_version: u64,
    /// Field list the value indexes and fingerprints refer to.
    pub fields: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Counts per class.
    pub counts: Counts,
    /// Newest snapshot sequence when it was made.
    pub snapshot_seq: i64,
    /// The changes.
    #[serde(skip)]
    pub changes: Vec<Change>,
}

fn table(name: &str) -> TableName {
    TableName::new("syncs", name).unwrap_or_else(|_| unreachable!("valid literal"))
}

/// `syncs.plans`
pub fn plans_table() -> TableName {
    table("plans")
}

/// `syncs.plan_rows`
pub fn rows_table() -> TableName {
    table("plan_rows")
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn plans_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("plan_id", DataType::Utf8, false),
        Field::new("sync", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("model_version", DataType::Int64, false),
        Field::new("fields", DataType::Utf8, false),
        Field::new("created_at", ts(), false),
        Field::new("model_rows", DataType::Int64, false),
        Field::new("creates", DataType::Int64, false),
        Field::new("updates", DataType::Int64, false),
        Field::new("deletes", DataType::Int64, false),
        Field::new("unchanged", DataType::Int64, false),
        Field::new("skipped", DataType::Int64, false),
        Field::new("snapshot_seq", DataType::Int64, false),
    ]))
}

fn rows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("plan_id", DataType::Utf8, false),
        Field::new("ord", DataType::Int64, false),
        Field::new("op", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("dest_id", DataType::Utf8, true),
        Field::new("changed_fields", DataType::Utf8, false),
        Field::new("values", DataType::Utf8, false),
        Field::new("row_hash", DataType::Int64, false),
        Field::new("field_hashes", DataType::Binary, false),
    ]))
}

impl Plan {
    /// Freeze a diff under a new id.
    pub fn new(spec: &SyncSpec, diff: Diff) -> Plan {
        let now = Utc::now();
        let suffix: u32 = rand::random();
        Plan {
            id: format!(
                "{}-{}-{:06x}",
                spec.name,
                now.format("%Y%m%dT%H%M%S"),
                suffix & 0xFF_FFFF
            ),
            sync: spec.name.clone(),
            model: spec.model.clone(),
            model_version: diff.model_version,
            fields: spec.field_names(),
            created_at: now,
            counts: diff.counts,
            snapshot_seq: diff.snapshot_seq,
            changes: diff.changes,
        }
    }

    /// The values of a change as a JSON object (field → value or null).
    pub fn values_json(&self, change: &Change) -> Value {
        let mut out = Map::new();
        for (f, v) in &change.values {
            let name = self.fields.get(*f).cloned().unwrap_or_default();
            out.insert(name, v.clone().map_or(Value::Null, Value::String));
        }
        Value::Object(out)
    }
}

const ROWS_PER_BATCH: usize = 65_536;

/// Store `plan`: its rows, then its header.
pub async fn save(warehouse: &Warehouse, plan: &Plan) -> Result<(), DiffError> {
    let mut batches = Vec::new();
    for (chunk_no, chunk) in plan.changes.chunks(ROWS_PER_BATCH).enumerate() {
        let base = (chunk_no * ROWS_PER_BATCH) as i64;
        let n = chunk.len();
        let changed: Vec<String> = chunk
            .iter()
            .map(|c| {
                let names: Vec<&str> = c
                    .values
                    .iter()
                    .filter_map(|(f, _)| plan.fields.get(*f).map(String::as_str))
                    .collect();
                names.join(",")
            })
            .collect();
        let values: Vec<String> = chunk
            .iter()
            .map(|c| plan.values_json(c).to_string())
            .collect();
        let packed: Vec<Vec<u8>> = chunk.iter().map(|c| pack(&c.field_hashes)).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![plan.id.as_str(); n])),
            Arc::new(Int64Array::from_iter_values(base..base + n as i64)),
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|c| c.op.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|c| &c.key))),
            Arc::new(StringArray::from_iter(
                chunk.iter().map(|c| c.dest_id.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(changed)),
            Arc::new(StringArray::from_iter_values(values)),
            Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|c| c.row_hash as i64),
            )),
            Arc::new(BinaryArray::from_iter_values(packed.iter())),
        ];
        batches.push(RecordBatch::try_new(rows_schema(), columns)?);
    }
    if !batches.is_empty() {
        warehouse
            .append(&rows_table(), rows_schema(), batches)
            .await?;
    }
    let c = &plan.counts;
    let header = RecordBatch::try_new(
        plans_schema(),
        vec![
            Arc::new(StringArray::from(vec![plan.id.as_str()])),
            Arc::new(StringArray::from(vec![plan.sync.as_str()])),
            Arc::new(StringArray::from(vec![plan.model.as_str()])),
            Arc::new(Int64Array::from(vec![plan.model_version as i64])),
            Arc::new(StringArray::from(vec![plan.fields.join(",")])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![plan.created_at.timestamp_micros()])
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(vec![c.model_rows as i64])),
            Arc::new(Int64Array::from(vec![c.creates as i64])),
            Arc::new(Int64Array::from(vec![c.updates as i64])),
            Arc::new(Int64Array::from(vec![c.deletes as i64])),
            Arc::new(Int64Array::from(vec![c.unchanged as i64])),
            Arc::new(Int64Array::from(vec![c.skipped as i64])),
            Arc::new(Int64Array::from(vec![plan.snapshot_seq])),
        ],
    )?;
    warehouse
        .append(&plans_table(), plans_schema(), vec![header])
        .await?;
    Ok(())
}

fn text_col(batch: &RecordBatch, name: &str) -> Result<StringArray, DiffError> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DiffError::Column(format!("plan column {name} is missing")))?;
    let c = arrow::compute::cast(c, &DataType::Utf8)?;
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DiffError::Column(format!("plan column {name} is not text")))
}

fn int_col(batch: &RecordBatch, name: &str) -> Result<Int64Array, DiffError> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DiffError::Column(format!("plan column {name} is missing")))?;
    let c = arrow::compute::cast(c, &DataType::Int64)?;
    c.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| DiffError::Column(format!("plan column {name} is not an integer")))
}

/// Load plan `id` of `sync` with its rows in order.
pub async fn load(warehouse: &Warehouse, sync: &str, id: &str) -> Result<Plan, DiffError> {
    let missing = || DiffError::Plan {
        id: id.to_string(),
        problem: format!(
            "no such plan for sync {sync} (see `lockstep sql \"SELECT plan_id, created_at FROM syncs.plans\"`)"
        ),
    };
    let df = warehouse.scan(&plans_table()).await?.ok_or_else(missing)?;
    let headers = df
        .filter(col("plan_id").eq(lit(id)).and(col("sync").eq(lit(sync))))?
        .collect()
        .await?;
    let header = headers
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(missing)?;
    let int = |name: &str| -> Result<i64, DiffError> { Ok(int_col(header, name)?.value(0)) };
    let fields: Vec<String> = text_col(header, "fields")?
        .value(0)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let created = int_col(header, "created_at")?.value(0);
    let mut plan = Plan {
        id: id.to_string(),
        sync: sync.to_string(),
        model: text_col(header, "model")?.value(0).to_string(),
        model_version: int("model_version")?.max(0) as u64,
        fields,
        created_at: DateTime::from_timestamp_micros(created).unwrap_or_default(),
        counts: Counts {
            model_rows: int("model_rows")?.max(0) as u64,
            creates: int("creates")?.max(0) as u64,
            updates: int("updates")?.max(0) as u64,
            deletes: int("deletes")?.max(0) as u64,
            unchanged: int("unchanged")?.max(0) as u64,
            skipped: int("skipped")?.max(0) as u64,
        },
        snapshot_seq: int("snapshot_seq")?,
        changes: Vec::new(),
    };
    let Some(df) = warehouse.scan(&rows_table()).await? else {
        return Ok(plan);
    };
    let mut stream = df
        .filter(col("plan_id").eq(lit(id)))?
        .sort(vec![col("ord").sort(true, false)])?
        .execute_stream()
        .await?;
    let bad = |what: String| DiffError::Plan {
        id: id.to_string(),
        problem: what,
    };
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let ops = text_col(&batch, "op")?;
        let keys = text_col(&batch, "key")?;
        let dest = text_col(&batch, "dest_id")?;
        let values = text_col(&batch, "values")?;
        let row_hashes = int_col(&batch, "row_hash")?;
        let fh = batch
            .column_by_name("field_hashes")
            .map(|c| arrow::compute::cast(c, &DataType::Binary))
            .transpose()?
            .ok_or_else(|| bad("field_hashes column missing".into()))?;
        let fh = fh
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| bad("field_hashes is not binary".into()))?;
        for i in 0..batch.num_rows() {
            let op = Op::parse(ops.value(i))
                .ok_or_else(|| bad(format!("unknown op {:?}", ops.value(i))))?;
            let object: Map<String, Value> = serde_json::from_str(values.value(i))
                .map_err(|e| bad(format!("values of row {i} are not a JSON object: {e}")))?;
            let mut vals = Vec::with_capacity(object.len());
            for (name, v) in object {
                let f = plan
                    .fields
                    .iter()
                    .position(|x| *x == name)
                    .ok_or_else(|| bad(format!("row sends unknown field {name}")))?;
                vals.push((f, v.as_str().map(str::to_string)));
            }
            vals.sort_by_key(|(f, _)| *f);
            plan.changes.push(Change {
                op,
                key: keys.value(i).to_string(),
                dest_id: (!dest.is_null(i)).then(|| dest.value(i).to_string()),
                values: vals,
                row_hash: row_hashes.value(i) as u64,
                field_hashes: unpack(fh.value(i)),
            });
        }
    }
    Ok(plan)
}
