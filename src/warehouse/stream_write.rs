//! Replacing a table with the rows of a running query, as they come: the model
//! build's write path. Collecting a model's result before writing it held the
//! whole result in memory and left the query idle while Parquet was encoded (one
//! thread); streaming lets the query's workers run while the writer encodes, and
//! holds only the batches in flight.
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
use super::table::Commit;
use super::{Result, TableName, Warehouse};

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
        let properties = writer_properties(&schema, first.as_ref());
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
