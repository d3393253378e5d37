//! Writing a query's output partitions side by side: one Parquet writer per
//! partition, each on its own task, then one commit that removes the table's
//! files and adds the new ones. delta-rs' own overwrite funnels every partition
//! of an unpartitioned table into a single writer task, so encoding Parquet (most
//! of a large model's time after its query) ran on one core while the query's
//! other partitions waited on it.
//!
//! Used when the table's schema stays as it is (every rebuild of an unchanged
//! model); a schema change goes through delta-rs' writer, which also evolves the
//! table's metadata and protocol.

use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use deltalake::DeltaTable;
use deltalake::DeltaTableError;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add};
use deltalake::operations::write::WriterStatsConfig;
use deltalake::operations::write::writer::{DeltaWriter, WriterConfig};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::config::TablePropertiesExt;
use futures::StreamExt;
use parquet::file::properties::WriterProperties;
use tokio::task::JoinSet;

use super::error::delta;
use super::stream_write::StreamWriteError;
use super::table::Commit;
use super::{TableName, Warehouse};

/// Why one partition's writer stopped.
enum PartFailure {
    Query(DataFusionError),
    Write(DeltaTableError),
}

impl Warehouse {
    /// Replace the contents of `table` (whose schema is `schema` already) with the
    /// rows of `streams`, each written to its own files by its own task.
    pub(super) async fn overwrite_in_parallel(
        &self,
        name: &TableName,
        table: DeltaTable,
        schema: SchemaRef,
        streams: Vec<SendableRecordBatchStream>,
        properties: WriterProperties,
    ) -> Result<Commit, StreamWriteError> {
        let state = table.snapshot().map_err(delta(name))?;
        let configuration = state.snapshot().table_configuration();
        let stats = WriterStatsConfig::from_config(configuration);
        let config = WriterConfig::new(
            schema,
            Vec::new(),
            Some(properties),
            Some(configuration.table_properties().target_file_size()),
            None,
            stats.num_indexed_cols,
            stats.stats_columns,
        );
        let store = table.log_store().object_store(None);
        let mut writers = JoinSet::new();
        for stream in streams {
            let writer = DeltaWriter::new(store.clone(), config.clone());
            writers.spawn(drain(writer, stream));
        }
        let (mut adds, mut rows) = (Vec::new(), 0);
        while let Some(joined) = writers.join_next().await {
            let outcome = match joined {
                Ok(outcome) => outcome,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(PartFailure::Query(DataFusionError::External(Box::new(e)))),
            };
            match outcome {
                Ok((written, n)) => {
                    adds.extend(written);
                    rows += n;
                }
                Err(failure) => {
                    // Dropping the other writers stops their queries; the files they
                    // finished are orphans no commit names (vacuum removes them).
                    writers.abort_all();
                    return Err(match failure {
                        PartFailure::Query(e) => StreamWriteError::Query(e),
                        PartFailure::Write(e) => StreamWriteError::Warehouse(delta(name)(e)),
                    });
                }
            }
        }
        let mut actions: Vec<Action> = state
            .log_data()
            .iter()
            .map(|file| Action::Remove(file.remove_action(true)))
            .collect();
        actions.extend(adds.into_iter().map(Action::Add));
        let operation = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: None,
            predicate: None,
        };
        let committed = CommitBuilder::from(CommitProperties::default().with_max_retries(50))
            .with_actions(actions)
            .build(Some(state), table.log_store(), operation)
            .await
            .map_err(delta(name))?;
        let version = committed.version();
        let mut table = DeltaTable::new(table.log_store());
        table.state = Some(committed.snapshot());
        self.maintain_if_due(name, table).await?;
        Ok(Commit {
            table: name.to_string(),
            version,
            rows,
        })
    }
}

/// Write every batch of `stream` through `writer`; the files written and rows.
async fn drain(
    mut writer: DeltaWriter,
    mut stream: SendableRecordBatchStream,
) -> Result<(Vec<Add>, usize), PartFailure> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let written = match batch {
            Ok(batch) => {
                rows += batch.num_rows();
                writer.write(&batch).await.map_err(PartFailure::Write)
            }
            Err(e) => Err(PartFailure::Query(e)),
        };
        if let Err(failure) = written {
            // Abort rather than drop: a dropped writer leaves multipart uploads open.
            let _ = writer.abort().await;
            return Err(failure);
        }
    }
    let adds = writer.close().await.map_err(PartFailure::Write)?;
    Ok((adds, rows))
}
