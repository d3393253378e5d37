//! The winners' table of [`super::LatestRowExec`]: from each key to its best row
//! so far among the batches it has seen, and the winners emitted once the input
//! is done. A partition's own table when the input is hash-partitioned by the
//! keys ([`Latest`]), or one of several tables each owning a share of the keys
//! when the rows stay where they were read (see `in_place`).

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, DynComparator, RecordBatch, RecordBatchOptions, make_comparator,
};
use arrow::compute::{BatchCoalescer, SortOptions};
use arrow::datatypes::SchemaRef;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};

use crate::slot_index::{PREFETCH_AHEAD, Probe, SlotIndex};

/// What the dedupe compares: its keys, its ORDER BY and that order's options.
#[derive(Debug, Clone)]
pub(super) struct Ranking {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    order_by: Vec<Arc<dyn PhysicalExpr>>,
    options: Vec<SortOptions>,
}

/// What the dedupe outputs: the `projection` of each winner's columns and the
/// rank (`one`) in `schema`, in batches of `batch_size`.
#[derive(Debug, Clone)]
pub(super) struct Output {
    pub(super) projection: Vec<usize>,
    pub(super) one: ScalarValue,
    pub(super) schema: SchemaRef,
    pub(super) batch_size: usize,
}

/// An input batch with its evaluated keys and ORDER BY values (usually its own
/// columns, shared).
pub(super) struct Held {
    pub(super) batch: RecordBatch,
    keys: Vec<ArrayRef>,
    order: Vec<ArrayRef>,
}

/// Comparators of the current batch's rows against one earlier batch's.
struct Against {
    keys: Vec<DynComparator>,
    order: Vec<DynComparator>,
}

/// Seed of the keys' hash. Partitioned input was spread by a hash of the same
/// keys; hashing them again with another seed spreads each partition's keys over
/// the whole table.
const HASH_SEED: u64 = 0x6c6f_636b_7374_6570;

impl Ranking {
    pub(super) fn new(
        partition_by: &[Arc<dyn PhysicalExpr>],
        order_by: &[PhysicalSortExpr],
    ) -> Self {
        Ranking {
            partition_by: partition_by.to_vec(),
            order_by: order_by.iter().map(|s| Arc::clone(&s.expr)).collect(),
            options: order_by.iter().map(|s| s.options).collect(),
        }
    }

    /// `batch` with its keys and ORDER BY evaluated, and its keys' hashes in
    /// `hashes`.
    pub(super) fn hold(&self, batch: RecordBatch, hashes: &mut Vec<u64>) -> Result<Held> {
        let n = batch.num_rows();
        let eval = |exprs: &[Arc<dyn PhysicalExpr>]| {
            exprs
                .iter()
                .map(|e| e.evaluate(&batch)?.into_array(n))
                .collect::<Result<Vec<ArrayRef>>>()
        };
        let keys = eval(&self.partition_by)?;
        let order = eval(&self.order_by)?;
        hashes.clear();
        hashes.resize(n, 0);
        create_hashes(&keys, &RandomState::with_seed(HASH_SEED), hashes)?;
        Ok(Held { batch, keys, order })
    }
}

/// Each key's best row among the batches inserted: (batch, row), one per key,
/// found through `index` by the key's hash; batches numbered in insertion order.
pub(super) struct Table {
    options: Vec<SortOptions>,
    batches: Vec<Arc<Held>>,
    index: SlotIndex,
    best: Vec<(u32, u32)>,
}

impl Table {
    pub(super) fn new(ranking: &Ranking) -> Self {
        Table {
            options: ranking.options.clone(),
            batches: Vec::new(),
            index: SlotIndex::with_capacity(0),
            best: Vec::new(),
        }
    }

    /// Take in the `rows` (row, hash of its key) of `held`.
    pub(super) fn insert(
        &mut self,
        held: Arc<Held>,
        rows: impl Iterator<Item = (usize, u64)> + Clone,
    ) -> Result<()> {
        let too_many = || DataFusionError::Execution("too many rows to dedupe".into());
        let b = u32::try_from(self.batches.len()).map_err(|_| too_many())?;
        self.batches.push(held);
        let (batches, index, best) = (&self.batches, &mut self.index, &mut self.best);
        let current = &batches[b as usize];
        // Comparators are built once per earlier batch a key of this one recurs in.
        let mut against: Vec<Option<Against>> = Vec::new();
        let mut ahead = rows.clone().skip(PREFETCH_AHEAD).map(|(_, hash)| hash);
        for (i, hash) in rows {
            if let Some(next) = ahead.next() {
                index.prefetch(next);
            }
            let row = u32::try_from(i).map_err(|_| too_many())?;
            let mut after = None;
            loop {
                let (id, slot) = match index.probe(hash, after) {
                    Probe::Candidate { id, slot } => (id, slot),
                    Probe::Vacant(at) => {
                        let id = u32::try_from(best.len())
                            .ok()
                            .filter(|id| *id < u32::MAX)
                            .ok_or_else(too_many)?;
                        best.push((b, row));
                        index.insert(hash, at, id);
                        break;
                    }
                };
                let (bb, r) = best[id as usize];
                let r = r as usize;
                let cmp = comparators(
                    &mut against,
                    current,
                    &batches[bb as usize],
                    bb,
                    &self.options,
                )?;
                if cmp.keys.iter().all(|c| c(i, r) == Ordering::Equal) {
                    let sorts_first = cmp
                        .order
                        .iter()
                        .map(|c| c(i, r))
                        .find(|o| *o != Ordering::Equal)
                        == Some(Ordering::Less);
                    if sorts_first {
                        best[id as usize] = (b, row);
                    }
                    break;
                }
                after = Some(slot);
            }
        }
        Ok(())
    }

    /// The winners: (batch, row), in no particular order.
    pub(super) fn winners(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.best.iter().copied()
    }
}

/// One partition's dedupe over input partitioned by the keys.
pub(super) struct Latest {
    ranking: Ranking,
    table: Table,
    hashes: Vec<u64>,
}

impl Latest {
    pub(super) fn new(ranking: &Ranking) -> Self {
        Latest {
            ranking: ranking.clone(),
            table: Table::new(ranking),
            hashes: Vec::new(),
        }
    }

    /// Take in one input batch.
    pub(super) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let held = self.ranking.hold(batch, &mut self.hashes)?;
        let rows = self.hashes.iter().copied().enumerate();
        self.table.insert(Arc::new(held), rows)
    }

    /// The winning rows, batch by batch, in the output schema.
    pub(super) fn finish(self, output: &Output) -> Result<Vec<RecordBatch>> {
        let mut won: Vec<Vec<bool>> = self
            .table
            .batches
            .iter()
            .map(|h| vec![false; h.batch.num_rows()])
            .collect();
        for (b, r) in self.table.winners() {
            won[b as usize][r as usize] = true;
        }
        let Table {
            batches,
            index,
            best,
            ..
        } = self.table;
        drop((index, best));
        let marked = batches.into_iter().zip(won).map(|(held, won)| {
            let batch = held.batch.clone();
            (batch, won)
        });
        emit(marked, output)
    }
}

/// The winners of `marked` (each batch with a flag per row), in the output
/// schema: a batch whose rows all won passes through as it is, the others are
/// filtered and packed into full batches.
pub(super) fn emit(
    marked: impl Iterator<Item = (RecordBatch, Vec<bool>)>,
    output: &Output,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let mut coalescer = BatchCoalescer::new(Arc::clone(&output.schema), output.batch_size);
    for (batch, won) in marked {
        let count = won.iter().filter(|w| **w).count();
        if count == 0 {
            continue;
        }
        // A reader that needs no column (`count(*)`) gets the winners' count.
        let rows = if output.projection.is_empty() {
            count
        } else {
            batch.num_rows()
        };
        let batch = project(batch, output, rows)?;
        if count == batch.num_rows() {
            out.push(batch);
        } else {
            coalescer.push_batch_with_filter(batch, &BooleanArray::from(won))?;
            while let Some(done) = coalescer.next_completed_batch() {
                out.push(done);
            }
        }
    }
    coalescer.finish_buffered_batch()?;
    while let Some(done) = coalescer.next_completed_batch() {
        out.push(done);
    }
    Ok(out)
}

/// The comparators of `current`'s rows (batch `b`) against `earlier`'s (batch
/// `bb`, possibly `current` itself), built on first use.
fn comparators<'a>(
    cache: &'a mut Vec<Option<Against>>,
    current: &Held,
    earlier: &Held,
    bb: u32,
    options: &[SortOptions],
) -> Result<&'a Against> {
    let at = bb as usize;
    if cache.len() <= at {
        cache.resize_with(at + 1, || None);
    }
    let slot = &mut cache[at];
    if let Some(built) = slot {
        return Ok(built);
    }
    let keys = current
        .keys
        .iter()
        .zip(&earlier.keys)
        .map(|(l, r)| make_comparator(l, r, SortOptions::default()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let order = current
        .order
        .iter()
        .zip(&earlier.order)
        .zip(options)
        .map(|((l, r), o)| make_comparator(l, r, *o))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(slot.insert(Against { keys, order }))
}

/// The output's projection of `batch`'s columns and the rank (all ones) after
/// them, as a batch of `rows` rows (the batch's own, unless no column is
/// projected).
fn project(batch: RecordBatch, output: &Output, rows: usize) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let width = batch.num_columns();
    let column = |i: usize| -> Result<ArrayRef> {
        if i < width {
            Ok(Arc::clone(batch.column(i)))
        } else {
            output.one.to_array_of_size(n)
        }
    };
    let columns = output
        .projection
        .iter()
        .map(|&i| column(i))
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(&output.schema),
        columns,
        &options,
    )?)
}
