//! Replacing a table with the rows of a running query, as they come: the model
//! build's write path. Collecting a model's result before writing it held the
//! whole result in memory and left the query idle while Parquet was encoded;
//! streaming lets the query's workers run while the writers encode, and holds
//! only the batches in flight. Each of the query's output partitions is written
//! by its own writer (`parallel_write`) unless the table's schema changes.
//!
//! The first batch is read before the write starts: its sample settles which
//! columns are written without a Parquet dictionary (`encoding`).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
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

use super::encoding::writer_properties;
use super::error::delta;
use super::table::{Commit, kernel_schema};
use super::{Result, TableName, Warehouse};

impl Warehouse {
    /// Replace the contents (and schema) of `name` with the rows `streams` yield
    /// (the output partitions of one query), in one atomic commit, writing them as
    /// they arrive. Every batch must have `schema`'s columns. An error of a stream
    /// fails the write (nothing is committed) and is returned as the stream's own
    /// error.
    pub async fn overwrite_streams(
        &self,
        name: &TableName,
        schema: SchemaRef,
        streams: Vec<SendableRecordBatchStream>,
    ) -> std::result::Result<Commit, StreamWriteError> {
        // The first rows settle the Parquet settings; they are written first.
        let (sample, mut streams) = first_rows(streams).await?;
        let properties = writer_properties(&schema, sample.as_ref());
        let table = match self.load(name).await? {
            Some(table) => table,
            None => self.create(name, &schema).await?,
        };
        let wanted = kernel_schema(name, &schema)?;
        let current = table.snapshot().map_err(delta(name))?.schema();
        if current.as_ref() == &wanted {
            return self
                .overwrite_in_parallel(name, table, schema, streams, properties)
                .await;
        }
        let rows = Arc::new(AtomicUsize::new(0));
        let failed: Arc<Mutex<Option<DataFusionError>>> = Arc::default();
        if streams.is_empty() {
            // delta-rs' writer needs an input partition, even an empty one.
            let empty = futures::stream::empty();
            streams.push(Box::pin(RecordBatchStreamAdapter::new(
                schema.clone(),
                empty,
            )));
        }
        let sources = streams
            .into_iter()
            .map(|stream| {
                Arc::new(OneShot::new(
                    schema.clone(),
                    stream,
                    rows.clone(),
                    failed.clone(),
                )) as Arc<dyn PartitionStream>
            })
            .collect();
        let written = self
            .write_plan(name, table, &schema, sources, properties)
            .await;
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

    /// Overwrite `table` through delta-rs' writer, which also replaces the schema.
    async fn write_plan(
        &self,
        name: &TableName,
        table: deltalake::DeltaTable,
        schema: &SchemaRef,
        sources: Vec<Arc<dyn PartitionStream>>,
        properties: WriterProperties,
    ) -> Result<u64> {
        let provider = StreamingTable::try_new(schema.clone(), sources)
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

/// The first non-empty batch of `streams` (read in order; a stream found empty is
/// dropped) and the streams with that batch put back in front of its stream.
async fn first_rows(
    mut streams: Vec<SendableRecordBatchStream>,
) -> std::result::Result<(Option<RecordBatch>, Vec<SendableRecordBatchStream>), DataFusionError> {
    while let Some(stream) = streams.first_mut() {
        match stream.next().await.transpose()? {
            Some(batch) if batch.num_rows() == 0 => {}
            Some(batch) => {
                let rest = streams.remove(0);
                let schema = rest.schema();
                let front = futures::stream::iter([Ok(batch.clone())]).chain(rest);
                streams.insert(0, Box::pin(RecordBatchStreamAdapter::new(schema, front)));
                return Ok((Some(batch), streams));
            }
            None => {
                streams.remove(0);
            }
        }
    }
    Ok((None, streams))
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

/// The rows of one stream as a DataFusion partition that can be executed once;
/// counts the rows it passes and keeps the stream's error for the caller.
struct OneShot {
    schema: SchemaRef,
    inner: Mutex<Option<SendableRecordBatchStream>>,
    rows: Arc<AtomicUsize>,
    failed: Arc<Mutex<Option<DataFusionError>>>,
}

impl OneShot {
    fn new(
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        rows: Arc<AtomicUsize>,
        failed: Arc<Mutex<Option<DataFusionError>>>,
    ) -> Self {
        OneShot {
            schema,
            inner: Mutex::new(Some(stream)),
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
        let Some(stream) = taken else {
            // The writer runs its input once; a second run would see no rows.
            let error = DataFusionError::Internal("a streamed write's input ran twice".into());
            let stream = futures::stream::once(async move { Err(error) });
            return Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream));
        };
        let (rows, failed) = (self.rows.clone(), self.failed.clone());
        let stream = stream.map(move |batch| match batch {
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
