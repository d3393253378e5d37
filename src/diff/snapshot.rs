//! The sync snapshot `syncs.snapshot_<sync>`: what the destination acknowledged, per
//! key — the row fingerprint, each field's fingerprint, the destination's record id.
//! Rows are only appended, and only for acknowledged writes; the newest `seq` of a
//! key wins and a tombstone (`deleted`) removes it. So a crash never makes the
//! snapshot claim more than the destination has, and the next diff sends exactly
//! what is missing. Compaction rewrites it to one row per live key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::StreamExt;

use super::DiffError;
use super::canonical::{key_hash, pack, unpack};
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

/// What the first pass keeps per key: enough to classify a model row.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Fingerprint of the acknowledged row.
    pub row_hash: u64,
    /// Ordering of acknowledgements.
    pub seq: i64,
    /// Tombstone.
    pub deleted: bool,
    /// Set by the diff when the model still has the key.
    pub seen: bool,
}

/// The latest acknowledgement of every key.
#[derive(Debug, Default)]
pub struct Index {
    /// Per key hash.
    pub entries: KeyMap<Entry>,
    /// Rows stored (more than `entries` until compacted).
    pub stored_rows: usize,
    /// Highest `seq` seen.
    pub max_seq: i64,
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

fn downcast<T: Clone + 'static>(a: &ArrayRef, name: &str) -> Result<T, DiffError> {
    a.as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| DiffError::Column(format!("snapshot column {name} has an unexpected type")))
}

/// Stream `columns` of the snapshot through `f`.
async fn scan(
    warehouse: &Warehouse,
    sync: &str,
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<(), DiffError>,
) -> Result<(), DiffError> {
    let Some(df) = warehouse.scan(&table(sync)?).await? else {
        return Ok(());
    };
    let mut stream = df.select_columns(columns)?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        f(&batch?)?;
    }
    Ok(())
}

/// First pass: the latest fingerprint and tombstone of every key.
pub async fn index(warehouse: &Warehouse, sync: &str) -> Result<Index, DiffError> {
    let mut out = Index::default();
    // Sized from the table's row count up front: growing a map of millions of keys
    // step by step rehashes it several times and briefly holds two copies.
    if let Ok(info) = warehouse.info(&table(sync)?).await {
        out.entries.reserve(usize::try_from(info.rows).unwrap_or(0));
    }
    scan(
        warehouse,
        sync,
        &["key", "row_hash", "deleted", "seq"],
        |b| {
            let keys: StringArray = downcast(&column(b, "key", &DataType::Utf8)?, "key")?;
            let hashes: Int64Array =
                downcast(&column(b, "row_hash", &DataType::Int64)?, "row_hash")?;
            let deleted: BooleanArray =
                downcast(&column(b, "deleted", &DataType::Boolean)?, "deleted")?;
            let seqs: Int64Array = downcast(&column(b, "seq", &DataType::Int64)?, "seq")?;
            out.stored_rows += b.num_rows();
            for i in 0..b.num_rows() {
                let seq = seqs.value(i);
                out.max_seq = out.max_seq.max(seq);
                let entry = Entry {
                    row_hash: hashes.value(i) as u64,
                    seq,
                    deleted: deleted.value(i),
                    seen: false,
                };
                out.entries
                    .entry(key_hash(keys.value(i)))
                    .and_modify(|e| {
                        if seq > e.seq {
                            *e = entry;
                        }
                    })
                    .or_insert(entry);
            }
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

/// Second pass: key, destination id and per-field fingerprints of `wanted` keys
/// (the latest row of each).
pub async fn details(
    warehouse: &Warehouse,
    sync: &str,
    wanted: &KeySet,
) -> Result<KeyMap<Detail>, DiffError> {
    let mut out: KeyMap<Detail> = KeyMap::default();
    if wanted.is_empty() {
        return Ok(out);
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
    scan(warehouse, sync, &columns, |b| {
        let keys: StringArray = downcast(&column(b, "key", &DataType::Utf8)?, "key")?;
        let seqs: Int64Array = downcast(&column(b, "seq", &DataType::Int64)?, "seq")?;
        let mut rest: Option<(
            StringArray,
            StringArray,
            BinaryArray,
            BooleanArray,
            StringArray,
        )> = None;
        for i in 0..b.num_rows() {
            let k = key_hash(keys.value(i));
            if !wanted.contains(&k) || out.get(&k).is_some_and(|d| d.seq >= seqs.value(i)) {
                continue;
            }
            if rest.is_none() {
                rest = Some((
                    downcast(&column(b, "dest_id", &DataType::Utf8)?, "dest_id")?,
                    downcast(&column(b, "fields", &DataType::Utf8)?, "fields")?,
                    downcast(
                        &column(b, "field_hashes", &DataType::Binary)?,
                        "field_hashes",
                    )?,
                    downcast(&column(b, "deleted", &DataType::Boolean)?, "deleted")?,
                    downcast(&column(b, "plan_id", &DataType::Utf8)?, "plan_id")?,
                ));
            }
            let Some((dest, fields, hashes, deleted, plans)) = &rest else {
                continue;
            };
            let names = fields.value(i).split(',').map(str::to_string);
            out.insert(
                k,
                Detail {
                    key: keys.value(i).to_string(),
                    dest_id: (!dest.is_null(i)).then(|| dest.value(i).to_string()),
                    hashes: names.zip(unpack(hashes.value(i))).collect(),
                    seq: seqs.value(i),
                    plan_id: plans.value(i).to_string(),
                    deleted: deleted.value(i),
                },
            );
        }
        Ok(())
    })
    .await?;
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
    let live = index.entries.values().filter(|e| !e.deleted).count();
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
        let keys: StringArray = downcast(&column(&batch, "key", &DataType::Utf8)?, "key")?;
        let seqs: Int64Array = downcast(&column(&batch, "seq", &DataType::Int64)?, "seq")?;
        let mask: BooleanArray = (0..batch.num_rows())
            .map(|i| {
                let e = index.entries.get(&key_hash(keys.value(i)));
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
