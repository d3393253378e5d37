//! The state store: cursors, checkpoints and other small facts the pipeline must not
//! forget, kept as rows of the `meta.state` Delta table. A `put` of several keys is
//! one commit, so a checkpoint and the cursor it implies advance together or not at
//! all. Rows are appended; the newest row of a key wins and a null value deletes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::{col, lit};

use super::{Commit, Result, TableName, Warehouse, WarehouseError};

/// Handle on `meta.state`.
#[derive(Debug, Clone)]
pub struct StateStore {
    warehouse: Warehouse,
    table: TableName,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("namespace", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// Microseconds since the epoch, strictly increasing within the process so that two
/// puts in the same microsecond still order.
pub(crate) fn monotonic_now_us() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = chrono::Utc::now().timestamp_micros();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => prev = actual,
        }
    }
}

impl Warehouse {
    /// The state store of this warehouse.
    pub fn state(&self) -> StateStore {
        StateStore {
            warehouse: self.clone(),
            table: TableName::new("meta", "state")
                .unwrap_or_else(|_| unreachable!("valid literal")),
        }
    }
}

impl StateStore {
    /// Set (or, with `None`, delete) several keys of `namespace` in one atomic commit.
    pub async fn put(
        &self,
        namespace: &str,
        entries: &[(&str, Option<serde_json::Value>)],
    ) -> Result<Commit> {
        let now = monotonic_now_us();
        let n = entries.len();
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec![namespace; n])),
                Arc::new(StringArray::from_iter_values(
                    entries.iter().map(|(k, _)| *k),
                )),
                Arc::new(StringArray::from_iter(
                    entries
                        .iter()
                        .map(|(_, v)| v.as_ref().map(|v| v.to_string())),
                )),
                Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
            ],
        )?;
        self.warehouse
            .append(&self.table, schema(), vec![batch])
            .await
    }

    /// The current value of one key.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.all(namespace).await?.remove(key))
    }

    /// Every live key of `namespace`.
    pub async fn all(&self, namespace: &str) -> Result<BTreeMap<String, serde_json::Value>> {
        let Some(df) = self.warehouse.scan(&self.table).await? else {
            return Ok(BTreeMap::new());
        };
        let batches = df
            .filter(col("namespace").eq(lit(namespace)))?
            .sort(vec![col("updated_at").sort(true, false)])?
            .collect()
            .await?;
        let mut out = BTreeMap::new();
        for batch in &batches {
            let keys = string_column(batch, "key")?;
            let values = string_column(batch, "value")?;
            for i in 0..batch.num_rows() {
                let key = keys.value(i).to_string();
                if values.is_null(i) {
                    out.remove(&key);
                    continue;
                }
                let value = serde_json::from_str(values.value(i)).map_err(|e| {
                    WarehouseError::SchemaMismatch {
                        table: self.table.to_string(),
                        detail: format!("value of {namespace}/{key} is not JSON: {e}"),
                    }
                })?;
                out.insert(key, value);
            }
        }
        Ok(out)
    }
}

/// A text column as `StringArray`, whichever string encoding the scan produced.
fn string_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let missing = || WarehouseError::SchemaMismatch {
        table: "meta.state".into(),
        detail: format!("column {name} is missing or not text"),
    };
    let column = batch.column_by_name(name).ok_or_else(missing)?;
    let utf8 = arrow::compute::cast(column, &DataType::Utf8)?;
    utf8.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(missing)
}
