//! One partition of [`super::LatestRowExec`]: the hash table from each key to
//! its best row so far, and the winners emitted once the input is done.

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
use hashbrown::HashTable;

/// One partition's state: every input batch with its key and ORDER BY columns,
/// and the winning row of each key.
pub(super) struct Latest {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    order_by: Vec<Arc<dyn PhysicalExpr>>,
    options: Vec<SortOptions>,
    projection: Vec<usize>,
    one: ScalarValue,
    schema: SchemaRef,
    batch_size: usize,
    batches: Vec<Held>,
    /// Winners: (hash of the key, batch, row).
    best: HashTable<(u64, u32, u32)>,
    hashes: Vec<u64>,
}

/// An input batch with its evaluated keys and ORDER BY values (usually its own
/// columns, shared).
struct Held {
    batch: RecordBatch,
    keys: Vec<ArrayRef>,
    order: Vec<ArrayRef>,
}

/// Comparators of the current batch's rows against one earlier batch's.
struct Against {
    keys: Vec<DynComparator>,
    order: Vec<DynComparator>,
}

/// The input is partitioned by a hash of the same keys; hashing them again with
/// another seed spreads each partition's keys over the whole table.
const HASH_SEED: u64 = 0x6c6f_636b_7374_6570;

impl Latest {
    /// The state for rows keyed by `partition_by`, ranked by `order_by`, emitted
    /// as the `projection` of their columns and the rank (`one`) in `schema`.
    pub(super) fn new(
        partition_by: &[Arc<dyn PhysicalExpr>],
        order_by: &[PhysicalSortExpr],
        projection: &[usize],
        one: &ScalarValue,
        schema: &SchemaRef,
        batch_size: usize,
    ) -> Self {
        Latest {
            partition_by: partition_by.to_vec(),
            order_by: order_by.iter().map(|s| Arc::clone(&s.expr)).collect(),
            options: order_by.iter().map(|s| s.options).collect(),
            projection: projection.to_vec(),
            one: one.clone(),
            schema: Arc::clone(schema),
            batch_size,
            batches: Vec::new(),
            best: HashTable::new(),
            hashes: Vec::new(),
        }
    }

    /// Take in one input batch.
    pub(super) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let eval = |exprs: &[Arc<dyn PhysicalExpr>]| {
            exprs
                .iter()
                .map(|e| e.evaluate(&batch)?.into_array(n))
                .collect::<Result<Vec<ArrayRef>>>()
        };
        let keys = eval(&self.partition_by)?;
        let order = eval(&self.order_by)?;
        self.hashes.clear();
        self.hashes.resize(n, 0);
        create_hashes(&keys, &RandomState::with_seed(HASH_SEED), &mut self.hashes)?;
        let b = u32::try_from(self.batches.len())
            .map_err(|_| DataFusionError::Execution("too many batches to dedupe".into()))?;
        self.batches.push(Held { batch, keys, order });
        let (batches, best) = (&self.batches, &mut self.best);
        let current = &batches[b as usize];
        // Comparators are built once per earlier batch a key of this one recurs in.
        let mut against: Vec<Option<Against>> = Vec::new();
        for (i, &hash) in self.hashes.iter().enumerate() {
            let row = i as u32;
            let mut found = false;
            for entry in best.iter_hash_mut(hash) {
                if entry.0 != hash {
                    continue;
                }
                let (bb, r) = (entry.1, entry.2 as usize);
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
                        *entry = (hash, b, row);
                    }
                    found = true;
                    break;
                }
            }
            if !found {
                best.insert_unique(hash, (hash, b, row), |&(h, _, _)| h);
            }
        }
        Ok(())
    }

    /// The winning rows, batch by batch, in the output schema.
    pub(super) fn finish(self) -> Result<Vec<RecordBatch>> {
        let mut won: Vec<Vec<bool>> = self
            .batches
            .iter()
            .map(|h| vec![false; h.batch.num_rows()])
            .collect();
        let mut counts = vec![0usize; self.batches.len()];
        for &(_, b, r) in self.best.iter() {
            won[b as usize][r as usize] = true;
            counts[b as usize] += 1;
        }
        drop(self.best);
        let mut out = Vec::new();
        let mut coalescer = BatchCoalescer::new(Arc::clone(&self.schema), self.batch_size);
        for ((held, won), count) in self.batches.into_iter().zip(won).zip(counts) {
            if count == 0 {
                continue;
            }
            // A reader that needs no column (`count(*)`) gets the winners' count.
            let rows = if self.projection.is_empty() {
                count
            } else {
                held.batch.num_rows()
            };
            let batch = project(held.batch, &self.projection, &self.one, &self.schema, rows)?;
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

/// The `projection` of `batch`'s columns and the rank (all ones) after them, as
/// a batch of `rows` rows (the batch's own, unless no column is projected).
fn project(
    batch: RecordBatch,
    projection: &[usize],
    one: &ScalarValue,
    schema: &SchemaRef,
    rows: usize,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let width = batch.num_columns();
    let column = |i: usize| -> Result<ArrayRef> {
        if i < width {
            Ok(Arc::clone(batch.column(i)))
        } else {
            one.to_array_of_size(n)
        }
    };
    let columns = projection
        .iter()
        .map(|&i| column(i))
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}
