//! Writing and describing single tables. A write is one Delta commit: data files
//! first, then the log entry that makes them visible, so readers never see a partial
//! batch and a crash in between leaves the previous version (orphan files are
//! harmless and removed by vacuum).

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructField, StructType, Transaction};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use serde::Serialize;

use super::encoding::writer_properties;
use super::error::delta;
use super::{Result, TableName, Warehouse, WarehouseError};

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// The table written.
    pub table: String,
    /// The Delta version the write created (or found, for an empty append).
    pub version: u64,
    /// Rows written.
    pub rows: usize,
}

/// What `lockstep status` shows of a table.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// `<area>.<name>`.
    pub table: String,
    /// Latest Delta version.
    pub version: u64,
    /// Rows in the latest version (from file statistics).
    pub rows: u64,
    /// Live data files.
    pub files: usize,
    /// Bytes in live data files.
    pub bytes: u64,
    /// When the latest version was committed.
    pub last_commit: Option<DateTime<Utc>>,
    /// The operation of the latest commit (WRITE, OPTIMIZE, ...).
    pub last_operation: Option<String>,
}

/// Delta keeps a checkpoint every this many commits, so opening a table reads a
/// bounded amount of log.
const CHECKPOINT_INTERVAL: &str = "10";

impl Warehouse {
    /// Append `batches` to `name`, creating the table with `schema` if needed.
    pub async fn append(
        &self,
        name: &TableName,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Commit> {
        self.write(name, schema, batches, SaveMode::Append, Vec::new())
            .await
    }

    /// Append `batches` and, in the same commit, record `marks` — application
    /// transactions `(app_id, version)` in the Delta log. Readers of the marks (a
    /// cursor, a finished backfill window) therefore agree exactly with the data:
    /// both are committed or neither is.
    pub async fn append_marked(
        &self,
        name: &TableName,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        marks: &[(String, i64)],
    ) -> Result<Commit> {
        let txns = marks
            .iter()
            .map(|(app, v)| Transaction::new(app, *v))
            .collect();
        self.write(name, schema, batches, SaveMode::Append, txns)
            .await
    }

    /// The version last recorded for application id `app_id` on `name` (see
    /// [`Warehouse::append_marked`]), or `None` if never recorded or no table.
    pub async fn mark(&self, name: &TableName, app_id: &str) -> Result<Option<i64>> {
        let Some(table) = self.load(name).await? else {
            return Ok(None);
        };
        let state = table.snapshot().map_err(delta(name))?;
        state
            .transaction_version(table.log_store().as_ref(), app_id)
            .await
            .map_err(delta(name))
    }

    /// Replace the contents (and schema) of `name` with `batches`, atomically.
    pub async fn overwrite(
        &self,
        name: &TableName,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Commit> {
        self.write(name, schema, batches, SaveMode::Overwrite, Vec::new())
            .await
    }

    async fn write(
        &self,
        name: &TableName,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        mode: SaveMode,
        txns: Vec<Transaction>,
    ) -> Result<Commit> {
        for batch in &batches {
            if !same_columns(batch.schema_ref(), &schema) {
                return Err(mismatch(name, &schema, batch.schema_ref()));
            }
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let table = match self.load(name).await? {
            Some(table) => table,
            None => self.create(name, &schema).await?,
        };
        let current = table
            .snapshot()
            .map_err(delta(name))?
            .snapshot()
            .arrow_schema();
        if mode == SaveMode::Append {
            if !same_columns(&current, &schema) {
                return Err(mismatch(name, &current, &schema));
            }
            if rows == 0 && txns.is_empty() {
                return Ok(Commit {
                    table: name.to_string(),
                    version: table.version().unwrap_or(0),
                    rows,
                });
            }
        }
        let input = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema.clone())]
        } else {
            batches
        };
        let properties = writer_properties(&schema, input.first());
        let mut builder = table
            .write(input)
            .with_writer_properties(properties)
            .with_save_mode(mode)
            .with_commit_properties(
                CommitProperties::default()
                    .with_max_retries(50)
                    .with_application_transactions(txns),
            );
        if mode == SaveMode::Overwrite {
            builder = builder.with_schema_mode(SchemaMode::Overwrite);
        }
        let table = builder.await.map_err(delta(name))?;
        let version = table.version().unwrap_or(0);
        self.maintain_if_due(name, table).await?;
        Ok(Commit {
            table: name.to_string(),
            version,
            rows,
        })
    }

    /// Create `name` with `schema` at version 0. A concurrent creator may win the race;
    /// then its table is used.
    pub(super) async fn create(&self, name: &TableName, schema: &SchemaRef) -> Result<DeltaTable> {
        let columns: Vec<StructField> = kernel_schema(name, schema)?.fields().cloned().collect();
        let created = self
            .handle(name)?
            .create()
            .with_table_name(name.name())
            .with_columns(columns)
            .with_configuration(BTreeMap::from([(
                "delta.checkpointInterval".to_string(),
                Some(CHECKPOINT_INTERVAL.to_string()),
            )]))
            .await;
        match created {
            Ok(table) => Ok(table),
            Err(e) => match self.load(name).await? {
                Some(table) => Ok(table),
                None => Err(delta(name)(e)),
            },
        }
    }

    /// Versions, row counts and last commit of `name`.
    pub async fn info(&self, name: &TableName) -> Result<TableInfo> {
        let table = self.require(name).await?;
        let state = table.snapshot().map_err(delta(name))?;
        let (mut rows, mut files, mut bytes) = (0u64, 0usize, 0u64);
        for file in state.log_data().iter() {
            rows += file.num_records().unwrap_or(0) as u64;
            files += 1;
            bytes += u64::try_from(file.size()).unwrap_or(0);
        }
        let last = table
            .history(Some(1))
            .next()
            .await
            .transpose()
            .map_err(delta(name))?;
        Ok(TableInfo {
            table: name.to_string(),
            version: table.version().unwrap_or(0),
            rows,
            files,
            bytes,
            last_commit: last
                .as_ref()
                .and_then(|c| c.timestamp)
                .and_then(DateTime::from_timestamp_millis),
            last_operation: last.and_then(|c| c.operation),
        })
    }
}

/// `schema` as Delta sees it (what a table of `name` with it records in its log).
pub(super) fn kernel_schema(name: &TableName, schema: &SchemaRef) -> Result<StructType> {
    schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| WarehouseError::SchemaMismatch {
            table: name.to_string(),
            detail: format!("type not supported by Delta: {e}"),
        })
}

/// Same column names and types in the same order (nullability and metadata aside).
fn same_columns(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields().iter())
            .all(|(x, y)| x.name() == y.name() && types_match(x.data_type(), y.data_type()))
}

/// Delta stores timestamps as microseconds in UTC and has no unsigned or small-width
/// distinctions for some types; compare what survives a round trip.
fn types_match(a: &arrow::datatypes::DataType, b: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType::*;
    match (a, b) {
        (Timestamp(_, za), Timestamp(_, zb)) => za.is_some() == zb.is_some(),
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => true,
        _ => a == b,
    }
}

fn mismatch(name: &TableName, expected: &SchemaRef, got: &SchemaRef) -> WarehouseError {
    let describe = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    WarehouseError::SchemaMismatch {
        table: name.to_string(),
        detail: format!(
            "table has ({}), batch has ({})",
            describe(expected),
            describe(got)
        ),
    }
}
