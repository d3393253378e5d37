//! The sync snapshot `syncs.snapshot_<sync>`: what the destination acknowledged, per
//! key — the row fingerprint, each field's fingerprint, the destination's record id.
//! Rows are only appended, and only for acknowledged writes; the newest `seq` of a
//! key wins and a tombstone (`deleted`) removes it. So a crash never makes the
//! snapshot claim more than the destination has, and the next diff sends exactly
//! what is missing. Compaction rewrites it to one row per live key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::StreamExt;

use super::DiffError;
use super::canonical::{key_hash, pack, unpack};
use super::columns::{Bytes, Texts, boolean, int64};
use super::key_table::{self, KeyTable};
use crate::warehouse::{TableName, Warehouse};

/// The snapshot table of `sync`.
pub fn table(sync: &str) -> Result<TableName, DiffError> {
    TableName::new("syncs", &format!("snapshot_{sync}")).map_err(|e| DiffError::Spec(e.to_string()))
}

/// Columns of a snapshot table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("dest_id", DataType::Utf8, true),
        Field::new("row_hash", DataType::Int64, false),
        Field::new("fields", DataType::Utf8, false),
        Field::new("field_hashes", DataType::Binary, false),
        Field::new("deleted", DataType::Boolean, false),
        Field::new("seq", DataType::Int64, false),
        Field::new("plan_id", DataType::Utf8, false),
        Field::new(
            "acked_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// One acknowledged write, as the snapshot records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The key value.
    pub key: String,
    /// The destination's id for the record, when known.
    pub dest_id: Option<String>,
    /// Fingerprint of the acknowledged row.
    pub row_hash: u64,
    /// Fingerprints of each field, aligned with the sync's field list.
    pub field_hashes: Vec<u64>,
    /// The record was deleted (or its fields cleared) at the destination.
    pub deleted: bool,
    /// The plan that carried the write.
    pub plan_id: String,
}

/// Keys are already 128-bit hashes: hashing them again is wasted work.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(w);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// A map keyed by [`key_hash`].
pub type KeyMap<V> = HashMap<u128, V, BuildHasherDefault<KeyHasher>>;
/// A set of [`key_hash`]es.
pub type KeySet = HashSet<u128, BuildHasherDefault<KeyHasher>>;

/// The index is split by the top bits of the key hash, so that each of the
/// snapshot's partitions can fill it from its own thread, locking one shard at a time.
const SHARDS: usize = 16;

/// How many rows ahead a key's slot is fetched into cache.
pub const PREFETCH: usize = 12;

fn shard_of(key: u128) -> usize {
    (key >> 124) as usize % SHARDS
}

/// What the first pass keeps per key: enough to classify a model row.
pub type Entry = key_table::Stored;

/// The latest acknowledgement of every key.
#[derive(Debug, Default)]
pub struct Index {
    shards: Vec<KeyTable>,
    /// Rows stored (more than [`Index::len`] until compacted).
    pub stored_rows: usize,
    /// Highest `seq` seen.
    pub max_seq: i64,
}

impl Index {
    /// The entry of a key hash.
    pub fn get(&self, key: u128) -> Option<Entry> {
        self.shards.get(shard_of(key))?.get(key)
    }

    /// Fetch a key's slot into cache ahead of [`Index::get`].
    pub fn prefetch(&self, key: u128) {
        if let Some(shard) = self.shards.get(shard_of(key)) {
            shard.prefetch(key);
        }
    }

    /// Where `key`'s entry lies, for [`Index::mark_seen`] and [`Index::key_at`].
    pub fn locate(&self, key: u128, entry: &Entry) -> u64 {
        ((shard_of(key) as u64) << 32) | entry.slot() as u64
    }

    /// Record that the model has the key at `location`; true when it was recorded
    /// before (the model repeats the key).
    pub fn mark_seen(&self, location: u64) -> bool {
        let (shard, slot) = ((location >> 32) as usize, location as u32 as usize);
        self.shards[shard].mark_seen(slot)
    }

    /// The key hash at `location`.
    pub fn key_at(&self, location: u64) -> u128 {
        let (shard, slot) = ((location >> 32) as usize, location as u32 as usize);
        self.shards[shard].key_in(slot)
    }

    /// Whether the model had `key` (after a diff's scan).
    pub fn seen(&self, key: u128, entry: &Entry) -> bool {
        self.shards[shard_of(key)].is_seen(entry.slot())
    }

    /// Keys known (live or tombstoned).
    pub fn len(&self) -> usize {
        self.shards.iter().map(KeyTable::len).sum()
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(KeyTable::is_empty)
    }

    /// Every key hash with its entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, Entry)> + '_ {
        self.shards.iter().flat_map(KeyTable::iter)
    }
}

/// What the second pass fetches for the keys that changed or left.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The key value.
    pub key: String,
    /// Destination id.
    pub dest_id: Option<String>,
    /// Field name → fingerprint.
    pub hashes: BTreeMap<String, u64>,
    /// Ordering of acknowledgements.
    pub seq: i64,
    /// The plan that wrote it.
    pub plan_id: String,
    /// Tombstone.
    pub deleted: bool,
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, DiffError> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DiffError::Column(format!("snapshot column {name} is missing")))?;
    if c.data_type() == to {
        return Ok(c.clone());
    }
    arrow::compute::cast(c, to)
        .map_err(|e| DiffError::Column(format!("snapshot column {name}: {e}")))
}

/// Stream `columns` of the snapshot through `f`, each partition of the scan on its
/// own task with its own state from `make`; returns the states. Decoding and `f`
/// then use every core, where one merged stream would leave `f` on one.
async fn scan_partitions<S, F>(
    warehouse: &Warehouse,
    sync: &str,
    columns: &[&str],
    make: impl Fn() -> S,
    f: F,
) -> Result<Vec<S>, DiffError>
where
    S: Send + 'static,
    F: Fn(&mut S, &RecordBatch) -> Result<(), DiffError> + Send + Sync + 'static,
{
    let Some(df) = warehouse.scan(&table(sync)?).await? else {
        return Ok(Vec::new());
    };
    let streams = df
        .select_columns(columns)?
        .execute_stream_partitioned()
        .await?;
    let f = Arc::new(f);
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (f, mut state) = (f.clone(), make());
            tokio::spawn(async move {
                while let Some(batch) = stream.next().await {
                    f(&mut state, &batch?)?;
                }
                Ok::<S, DiffError>(state)
            })
        })
        .collect();
    let mut states = Vec::with_capacity(tasks.len());
    for task in tasks {
        let state = task.await.map_err(|e| {
            DiffError::Column(format!("reading the snapshot of {sync} stopped: {e}"))
        })??;
        states.push(state);
    }
    Ok(states)
}

/// Per-partition state of the first pass.
struct IndexPart {
    stored_rows: usize,
    max_seq: i64,
    /// Entries of the current batch, by shard: key, row hash, seq, deleted.
    pending: Vec<Vec<(u128, u64, i64, bool)>>,
    /// Where this partition starts its round of shards, so that partitions mostly
    /// lock different ones.
    first_shard: usize,
}

/// First pass: the latest fingerprint and tombstone of every key.
pub async fn index(warehouse: &Warehouse, sync: &str) -> Result<Index, DiffError> {
    // Sized from the table's row count up front: growing maps of millions of keys
    // step by step rehashes them several times and briefly holds two copies.
    let rows = match warehouse.info(&table(sync)?).await {
        Ok(info) => usize::try_from(info.rows).unwrap_or(0),
        Err(_) => 0,
    };
    let per_shard = rows / SHARDS + rows / (SHARDS * 32);
    let shards: Arc<Vec<Mutex<KeyTable>>> = Arc::new(
        (0..SHARDS)
            .map(|_| Mutex::new(KeyTable::with_capacity(per_shard)))
            .collect(),
    );
    let next_first = AtomicUsize::new(0);
    let filling = shards.clone();
    let parts = scan_partitions(
        warehouse,
        sync,
        &["key", "row_hash", "deleted", "seq"],
        || IndexPart {
            stored_rows: 0,
            max_seq: i64::MIN,
            pending: (0..SHARDS).map(|_| Vec::new()).collect(),
            first_shard: next_first.fetch_add(SHARDS / 2 + 1, Ordering::Relaxed) % SHARDS,
        },
        move |part, b| {
            let keys = Texts::of(b, "key")?;
            let hashes = int64(b, "row_hash")?;
            let deleted = boolean(b, "deleted")?;
            let seqs = int64(b, "seq")?;
            part.stored_rows += b.num_rows();
            for i in 0..b.num_rows() {
                let (key, seq) = (key_hash(keys.value(i)), seqs.value(i));
                part.max_seq = part.max_seq.max(seq);
                part.pending[shard_of(key)].push((
                    key,
                    hashes.value(i) as u64,
                    seq,
                    deleted.value(i),
                ));
            }
            for n in 0..SHARDS {
                let s = (part.first_shard + n) % SHARDS;
                if part.pending[s].is_empty() {
                    continue;
                }
                let mut table = filling[s].lock().unwrap_or_else(PoisonError::into_inner);
                let pending = &mut part.pending[s];
                for (n, &(key, row_hash, seq, deleted)) in pending.iter().enumerate() {
                    if let Some(ahead) = pending.get(n + PREFETCH) {
                        table.prefetch(ahead.0);
                    }
                    table.insert_latest(key, row_hash, seq, deleted);
                }
                pending.clear();
            }
            Ok(())
        },
    )
    .await?;
    let shards = Arc::try_unwrap(shards)
        .map_err(|_| DiffError::Column("the snapshot index is still being filled".into()))?;
    Ok(Index {
        shards: shards
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect(),
        stored_rows: parts.iter().map(|p| p.stored_rows).sum(),
        max_seq: parts.iter().map(|p| p.max_seq).max().unwrap_or(0).max(0),
    })
}

/// The details columns of one snapshot batch, looked up once per batch.
struct DetailColumns<'a> {
    keys: Texts<'a>,
    dest: Texts<'a>,
    fields: Texts<'a>,
    hashes: Bytes<'a>,
    deleted: &'a BooleanArray,
    seqs: &'a Int64Array,
    plans: Texts<'a>,
}

impl<'a> DetailColumns<'a> {
    fn of(b: &'a RecordBatch) -> Result<DetailColumns<'a>, DiffError> {
        Ok(DetailColumns {
            keys: Texts::of(b, "key")?,
            dest: Texts::of(b, "dest_id")?,
            fields: Texts::of(b, "fields")?,
            hashes: Bytes::of(b, "field_hashes")?,
            deleted: boolean(b, "deleted")?,
            seqs: int64(b, "seq")?,
            plans: Texts::of(b, "plan_id")?,
        })
    }

    fn detail(&self, i: usize) -> Detail {
        let names = self.fields.value(i).split(',').map(str::to_string);
        Detail {
            key: self.keys.value(i).to_string(),
            dest_id: self.dest.owned(i),
            hashes: names.zip(unpack(self.hashes.value(i))).collect(),
            seq: self.seqs.value(i),
            plan_id: self.plans.value(i).to_string(),
            deleted: self.deleted.value(i),
        }
    }
}

/// Second pass: key, destination id and per-field fingerprints of `wanted` keys
/// (the latest row of each).
pub async fn details(
    warehouse: &Warehouse,
    sync: &str,
    wanted: KeySet,
) -> Result<KeyMap<Detail>, DiffError> {
    if wanted.is_empty() {
        return Ok(KeyMap::default());
    }
    let columns = [
        "key",
        "dest_id",
        "fields",
        "field_hashes",
        "deleted",
        "seq",
        "plan_id",
    ];
    let looking_for = Arc::new(wanted);
    let parts = scan_partitions(
        warehouse,
        sync,
        &columns,
        KeyMap::<Detail>::default,
        move |found, b| {
            let c = DetailColumns::of(b)?;
            for i in 0..b.num_rows() {
                let k = key_hash(c.keys.value(i));
                if looking_for.contains(&k) && found.get(&k).is_none_or(|d| d.seq < c.seqs.value(i))
                {
                    found.insert(k, c.detail(i));
                }
            }
            Ok(())
        },
    )
    .await?;
    let mut out: KeyMap<Detail> = KeyMap::default();
    for part in parts {
        for (k, d) in part {
            if out.get(&k).is_none_or(|o| o.seq < d.seq) {
                out.insert(k, d);
            }
        }
    }
    Ok(out)
}

fn batch_of(fields: &[String], acks: &[Ack]) -> Result<RecordBatch, DiffError> {
    let now = chrono::Utc::now().timestamp_micros();
    let n = acks.len();
    let field_list = fields.join(",");
    let seq0 = crate::warehouse::state::monotonic_now_us();
    let packed: Vec<Vec<u8>> = acks.iter().map(|a| pack(&a.field_hashes)).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(acks.iter().map(|a| &a.key))),
        Arc::new(StringArray::from_iter(
            acks.iter().map(|a| a.dest_id.as_deref()),
        )),
        Arc::new(Int64Array::from_iter_values(
            acks.iter().map(|a| a.row_hash as i64),
        )),
        Arc::new(StringArray::from(vec![field_list.as_str(); n])),
        Arc::new(BinaryArray::from_iter_values(packed.iter())),
        Arc::new(BooleanArray::from_iter(
            acks.iter().map(|a| Some(a.deleted)),
        )),
        // One commit's rows share a microsecond timestamp base; the offset keeps
        // them distinct without reserving a range of the clock.
        Arc::new(Int64Array::from_iter_values(
            (0..n as i64).map(|i| seq0 + i),
        )),
        Arc::new(StringArray::from_iter_values(
            acks.iter().map(|a| &a.plan_id),
        )),
        Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// Record acknowledgements in one commit.
pub async fn append(
    warehouse: &Warehouse,
    sync: &str,
    fields: &[String],
    acks: &[Ack],
) -> Result<(), DiffError> {
    if acks.is_empty() {
        return Ok(());
    }
    let batch = batch_of(fields, acks)?;
    warehouse
        .append(&table(sync)?, schema(), vec![batch])
        .await?;
    Ok(())
}

/// Rewrite the snapshot to one row per live key when superseded rows make up more
/// than a third of it. Returns the rows kept when it compacted.
pub async fn compact_if_due(warehouse: &Warehouse, sync: &str) -> Result<Option<usize>, DiffError> {
    let index = index(warehouse, sync).await?;
    let live = index.iter().filter(|(_, e)| !e.deleted).count();
    if index.stored_rows < 1000 || index.stored_rows * 2 < live * 3 {
        return Ok(None);
    }
    let name = table(sync)?;
    let Some(df) = warehouse.scan(&name).await? else {
        return Ok(None);
    };
    let mut stream = df.execute_stream().await?;
    let mut keep = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let keys = Texts::of(&batch, "key")?;
        let seqs = int64(&batch, "seq")?;
        let mask: BooleanArray = (0..batch.num_rows())
            .map(|i| {
                let e = index.get(key_hash(keys.value(i)));
                Some(e.is_some_and(|e| !e.deleted && e.seq == seqs.value(i)))
            })
            .collect();
        let filtered = arrow::compute::filter_record_batch(&batch, &mask)?;
        // Normalise view types the scan may produce back to the stored schema.
        let columns = schema()
            .fields()
            .iter()
            .map(|f| column(&filtered, f.name(), f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        keep.push(RecordBatch::try_new(schema(), columns)?);
    }
    let rows = keep.iter().map(RecordBatch::num_rows).sum();
    warehouse.overwrite(&name, schema(), keep).await?;
    Ok(Some(rows))
}
