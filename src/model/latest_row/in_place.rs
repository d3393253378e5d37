//! [`super::LatestRowExec`] over rows left in the partitions they were read in.
//!
//! Hash-partitioning the input by the keys moves every row: at 10M orders,
//! `stg_shop_orders` copied 9.2 GB of columns twice (into per-partition pieces,
//! then into full batches) to keep 10M rows that were already unique. When
//! nothing above relies on the output being partitioned by the keys, only the
//! keys' hashes need to travel: each input partition's reader holds its batches
//! and sends (batch, rows, hashes) to the table that owns those hashes; each
//! table finds its keys' winners and marks them in the batches' flags; then each
//! output partition emits the winners of its own input partition's batches, a
//! batch whose rows all won as it is.
//!
//! Readers and tables run as tasks of their own, started by the first partition
//! executed, so no output partition waits on another being polled.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, Time};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, TryStreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::winners::{Held, Ranking, Table};

/// An input batch held until the end, with a flag per row set by the tables
/// for the rows that won.
struct Landed {
    held: Arc<Held>,
    won: Box<[AtomicU64]>,
}

/// Rows of one landed batch whose keys a table owns: (row, hash of its key).
struct Share {
    landed: Arc<Landed>,
    rows: Vec<(u32, u64)>,
}

/// Each input partition's landed batches, taken by its output partition.
type Partitions = Arc<Vec<Mutex<Option<Vec<Arc<Landed>>>>>>;

/// The whole input deduped, as every output partition awaits it.
type Done = Shared<BoxFuture<'static, std::result::Result<Partitions, Arc<DataFusionError>>>>;

/// The shared run of one execution: started by the first partition executed.
#[derive(Default)]
pub(super) struct InPlace {
    done: Mutex<Option<Done>>,
}

impl std::fmt::Debug for InPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InPlace")
    }
}

impl InPlace {
    /// Input partition `partition`'s batches, each with its rows' winner flags,
    /// once every partition's keys have been compared.
    pub(super) async fn partition(
        &self,
        partition: usize,
        input: &Arc<dyn ExecutionPlan>,
        ranking: &Ranking,
        context: &Arc<TaskContext>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Vec<(RecordBatch, Vec<bool>)>> {
        let done = {
            let mut slot = self
                .done
                .lock()
                .map_err(|_| DataFusionError::Internal("dedupe state poisoned".into()))?;
            match slot.as_ref() {
                Some(done) => done.clone(),
                None => slot
                    .insert(start(input, ranking, context, metrics)?)
                    .clone(),
            }
        };
        let partitions = done.await.map_err(DataFusionError::Shared)?;
        let landed = partitions
            .get(partition)
            .and_then(|p| p.lock().ok()?.take())
            .ok_or_else(|| {
                DataFusionError::Internal(format!("dedupe partition {partition} taken twice"))
            })?;
        Ok(landed
            .into_iter()
            .map(|l| {
                let n = l.held.batch.num_rows();
                let won = (0..n)
                    .map(|r| l.won[r / 64].load(AtomicOrdering::Relaxed) & (1 << (r % 64)) != 0)
                    .collect();
                (l.held.batch.clone(), won)
            })
            .collect())
    }
}

/// Start the readers of every input partition and one table per partition.
fn start(
    input: &Arc<dyn ExecutionPlan>,
    ranking: &Ranking,
    context: &Arc<TaskContext>,
    metrics: &ExecutionPlanMetricsSet,
) -> Result<Done> {
    let n = input.properties().output_partitioning().partition_count();
    // Reader and table p count toward partition p's compute time.
    let time = |p| MetricBuilder::new(metrics).elapsed_compute(p);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| unbounded_channel()).unzip();
    let tables: Vec<SpawnedTask<Result<()>>> = receivers
        .into_iter()
        .enumerate()
        .map(|(p, rx)| SpawnedTask::spawn(find_winners(rx, ranking.clone(), time(p))))
        .collect();
    let readers: Vec<SpawnedTask<Result<Vec<Arc<Landed>>>>> = (0..n)
        .map(|p| {
            let stream = input.execute(p, Arc::clone(context))?;
            Ok(SpawnedTask::spawn(read(
                stream,
                ranking.clone(),
                senders.clone(),
                time(p),
            )))
        })
        .collect::<Result<_>>()?;
    drop(senders);
    let joined = async move {
        let mut partitions = Vec::with_capacity(n);
        for reader in readers {
            partitions.push(Mutex::new(Some(joined(reader).await?)));
        }
        for table in tables {
            joined(table).await?;
        }
        Ok(Arc::new(partitions))
    };
    Ok(joined
        .map(|r: Result<Partitions>| r.map_err(Arc::new))
        .boxed()
        .shared())
}

async fn joined<T: Send + 'static>(task: SpawnedTask<Result<T>>) -> Result<T> {
    task.join_unwind()
        .await
        .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?
}

/// Read one input partition: hold each batch and send its rows to the tables
/// owning their keys' hashes.
async fn read(
    mut stream: SendableRecordBatchStream,
    ranking: Ranking,
    tables: Vec<UnboundedSender<Share>>,
    time: Time,
) -> Result<Vec<Arc<Landed>>> {
    let mut landed = Vec::new();
    let mut hashes = Vec::new();
    while let Some(batch) = stream.try_next().await? {
        let n = batch.num_rows();
        if n == 0 {
            continue;
        }
        let _timer = time.timer();
        let held = Arc::new(ranking.hold(batch, &mut hashes)?);
        let won = (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        let batch = Arc::new(Landed { held, won });
        let mut shares: Vec<Vec<(u32, u64)>> = vec![Vec::new(); tables.len()];
        for (row, &hash) in hashes.iter().enumerate() {
            shares[owner(hash, tables.len())].push((row as u32, hash));
        }
        for (table, rows) in tables.iter().zip(shares) {
            if rows.is_empty() {
                continue;
            }
            let share = Share {
                landed: Arc::clone(&batch),
                rows,
            };
            // A table stops only on an error, which its own task reports.
            if table.send(share).is_err() {
                return Ok(landed);
            }
        }
        landed.push(batch);
    }
    Ok(landed)
}

/// The table (of `tables`) owning keys of `hash`, from the hash's lower half:
/// a table indexes and tags its slots by the upper half, which stays spread
/// over all its slots.
fn owner(hash: u64, tables: usize) -> usize {
    (hash as u32 as usize) % tables
}

/// One table: every share sent to it, then its winners marked.
async fn find_winners(
    mut shares: UnboundedReceiver<Share>,
    ranking: Ranking,
    time: Time,
) -> Result<()> {
    let mut table = Table::new(&ranking);
    // The landed batch of each table batch, in insertion order.
    let mut origins: Vec<Arc<Landed>> = Vec::new();
    while let Some(share) = shares.recv().await {
        let _timer = time.timer();
        let rows = share.rows.iter().map(|&(r, h)| (r as usize, h));
        table.insert(Arc::clone(&share.landed.held), rows)?;
        origins.push(share.landed);
    }
    let _timer = time.timer();
    for (b, r) in table.winners() {
        let r = r as usize;
        origins[b as usize].won[r / 64].fetch_or(1 << (r % 64), AtomicOrdering::Relaxed);
    }
    Ok(())
}
