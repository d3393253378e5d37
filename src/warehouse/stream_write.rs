//! Replacing a table with the rows of a running query, as they come: the model
//! build's write path. Collecting a model's result before writing it held the
//! whole result in memory and left the query idle while Parquet was encoded (one
//! thread); streaming lets the query's workers run while the writer encodes, and
//! holds only the batches in flight.
//!
//! Model outputs also get Parquet settings of their own: a column whose values are
//! mostly distinct (ids, names, amounts) is written without a dictionary. parquet
//! builds a dictionary for every column until it outgrows its page limit, and
//! hashing every value into it was the largest single cost of writing models
//! (about a tenth of a 1M-order build's CPU). Low-cardinality columns (currencies,
//! statuses, dates) keep theirs. Raw-table appends are not affected.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::error::delta;
use super::table::{Commit, writer_properties};
use super::{Result, TableName, Warehouse};

/// Rows of the first batch sampled to judge each column's cardinality.
const SAMPLE_ROWS: usize = 4096;

/// A column whose sample has more than this share of distinct values is written
/// without a dictionary: the dictionary would overflow its page and be dropped
/// anyway, after every value went through its hash table.
const MOSTLY_DISTINCT: f64 = 0.5;

impl Warehouse {
    /// Replace the contents (and schema) of `name` with the rows `stream` yields, in
    /// one atomic commit, writing them as they arrive. Every batch must have
    /// `schema`'s columns. An error of the stream fails the write (nothing is
    /// committed) and is returned as the stream's own error.
    pub async fn overwrite_stream(
        &self,
        name: &TableName,
        schema: SchemaRef,
        mut stream: SendableRecordBatchStream,
    ) -> std::result::Result<Commit, StreamWriteError> {
        // The first batch settles the Parquet settings; it is written first.
        let first = stream.next().await.transpose()?;
        let properties = model_writer_properties(&schema, first.as_ref());
        let rows = Arc::new(AtomicUsize::new(0));
        let failed: Arc<Mutex<Option<DataFusionError>>> = Arc::default();
        let source = OneShot::new(schema.clone(), first, stream, rows.clone(), failed.clone());
        let written = self.write_plan(name, &schema, source, properties).await;
        // The query's own error, when it is what stopped the write.
        let query_error = failed.lock().ok().and_then(|mut f| f.take());
        if let Some(e) = query_error {
            return Err(StreamWriteError::Query(e));
        }
        let version = written?;
        Ok(Commit {
            table: name.to_string(),
            version,
            rows: rows.load(Ordering::Relaxed),
        })
    }

    async fn write_plan(
        &self,
        name: &TableName,
        schema: &SchemaRef,
        source: OneShot,
        properties: WriterProperties,
    ) -> Result<u64> {
        let table = match self.load(name).await? {
            Some(table) => table,
            None => self.create(name, schema).await?,
        };
        let provider = StreamingTable::try_new(schema.clone(), vec![Arc::new(source)])
            .map_err(|e| delta(name)(deltalake::DeltaTableError::from(e)))?;
        let plan = LogicalPlanBuilder::scan(
            name.to_string(),
            provider_as_source(Arc::new(provider)),
            None,
        )
        .and_then(LogicalPlanBuilder::build)
        .map_err(|e| delta(name)(deltalake::DeltaTableError::from(e)))?;
        let table = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_writer_properties(properties)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_commit_properties(CommitProperties::default().with_max_retries(50))
            .await
            .map_err(delta(name))?;
        let version = table.version().unwrap_or(0);
        self.maintain_if_due(name, table).await?;
        Ok(version)
    }
}

/// Why a streamed write failed: the query feeding it, or the warehouse.
#[derive(Debug, thiserror::Error)]
pub enum StreamWriteError {
    /// The query producing the rows failed (nothing was committed).
    #[error(transparent)]
    Query(#[from] DataFusionError),
    /// Writing or committing failed.
    #[error(transparent)]
    Warehouse(#[from] super::WarehouseError),
}

/// Parquet settings for a model's data files: the tables' settings, with no
/// dictionary for columns whose values in `sample` are mostly distinct.
pub(super) fn model_writer_properties(
    schema: &SchemaRef,
    sample: Option<&RecordBatch>,
) -> WriterProperties {
    let base = writer_properties(schema);
    let Some(sample) = sample.filter(|b| b.num_rows() > 0) else {
        return base;
    };
    let sample = sample.slice(0, sample.num_rows().min(SAMPLE_ROWS));
    let mut builder = base.into_builder();
    for (field, column) in schema.fields().iter().zip(sample.columns()) {
        // Nested columns have leaf paths of their own; they keep the default.
        let flat = column.data_type().is_primitive()
            || matches!(
                column.data_type(),
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_)
            );
        if !flat {
            continue;
        }
        let Ok(converter) = RowConverter::new(vec![SortField::new(column.data_type().clone())])
        else {
            continue;
        };
        let Ok(rows) = converter.convert_columns(std::slice::from_ref(column)) else {
            continue;
        };
        let distinct: HashSet<&[u8]> = rows.iter().map(|r| r.data()).collect();
        if distinct.len() as f64 > MOSTLY_DISTINCT * sample.num_rows() as f64 {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// The rows of one stream as a DataFusion partition that can be executed once;
/// counts the rows it passes and keeps the stream's error for the caller.
struct OneShot {
    schema: SchemaRef,
    inner: Mutex<Option<(Option<RecordBatch>, SendableRecordBatchStream)>>,
    rows: Arc<AtomicUsize>,
    failed: Arc<Mutex<Option<DataFusionError>>>,
}

impl OneShot {
    fn new(
        schema: SchemaRef,
        first: Option<RecordBatch>,
        rest: SendableRecordBatchStream,
        rows: Arc<AtomicUsize>,
        failed: Arc<Mutex<Option<DataFusionError>>>,
    ) -> Self {
        OneShot {
            schema,
            inner: Mutex::new(Some((first, rest))),
            rows,
            failed,
        }
    }
}

impl fmt::Debug for OneShot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneShot")
            .field("schema", &self.schema)
            .finish()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.inner.lock().ok().and_then(|mut inner| inner.take());
        let Some((first, rest)) = taken else {
            // The writer runs its input once; a second run would see no rows.
            let error = DataFusionError::Internal("a streamed write's input ran twice".into());
            let stream = futures::stream::once(async move { Err(error) });
            return Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream));
        };
        let (rows, failed) = (self.rows.clone(), self.failed.clone());
        let stream =
            futures::stream::iter(first.map(Ok))
                .chain(rest)
                .map(move |batch| match batch {
                    Ok(batch) => {
                        rows.fetch_add(batch.num_rows(), Ordering::Relaxed);
                        Ok(batch)
                    }
                    Err(e) => {
                        // The writer reports its own wrapping of this; the caller
                        // returns the original (it carries the query's position).
                        let shown = DataFusionError::External(e.to_string().into());
                        if let Ok(mut slot) = failed.lock() {
                            slot.get_or_insert(e);
                        }
                        Err(shown)
                    }
                });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn mostly_distinct_columns_lose_their_dictionary_others_keep_it() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("currency", DataType::Utf8, true),
            Field::new("_raw", DataType::Utf8, true),
        ]));
        let n = 1000;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| ["EUR", "USD"][(i % 2) as usize]),
                )),
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "{}"))),
            ],
        )
        .unwrap();
        let props = model_writer_properties(&schema, Some(&batch));
        assert!(!props.dictionary_enabled(&ColumnPath::from("id")));
        assert!(props.dictionary_enabled(&ColumnPath::from("currency")));
        // The tables' own rule still applies: opaque columns stay plain.
        assert!(!props.dictionary_enabled(&ColumnPath::from("_raw")));
        // Without a sample, the tables' settings.
        let props = model_writer_properties(&schema, None);
        assert!(props.dictionary_enabled(&ColumnPath::from("id")));
    }
}
