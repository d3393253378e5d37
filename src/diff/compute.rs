//! The diff itself: stream the model's key and mapped columns, fingerprint every
//! row, and classify it against the snapshot index. Only rows that differ keep their
//! values in memory; keys that changed or left are then looked up for their
//! per-field fingerprints so an update carries exactly the fields that changed.

use std::collections::BTreeMap;

use arrow::array::{Array, StringArray};
use futures::StreamExt;
use serde::Serialize;

use super::canonical::{field_hash, key_hash, name_hash, row_hash, text};
use super::snapshot::{self, KeySet};
use super::{Change, DiffError, Mode, Op, SyncSpec};
use crate::warehouse::{TableName, Warehouse};

/// How many rows fell in each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows in the model.
    pub model_rows: u64,
    /// New keys to create.
    pub creates: u64,
    /// Changed keys to update.
    pub updates: u64,
    /// Keys that left the model, to delete or clear (mirror).
    pub deletes: u64,
    /// Rows equal to what the destination acknowledged.
    pub unchanged: u64,
    /// Changed rows the mode does not send (create-only).
    pub skipped: u64,
}

/// The outcome of a diff.
#[derive(Debug, Clone)]
pub struct Diff {
    /// What to send, creates and updates sorted by key, then deletes.
    pub changes: Vec<Change>,
    /// Counts per class.
    pub counts: Counts,
    /// Delta version of the model table read.
    pub model_version: u64,
    /// Newest snapshot sequence when the diff ran (for staleness checks).
    pub snapshot_seq: i64,
}

/// A model row that differs from the snapshot.
struct Pending {
    key: String,
    hash: u128,
    existed: bool,
    values: Vec<Option<String>>,
    field_hashes: Vec<u64>,
    row_hash: u64,
}

const EXAMPLES: usize = 3;

/// A streaming read of a model's key and mapped columns as canonical text.
struct ModelScan {
    stream: datafusion::physical_plan::SendableRecordBatchStream,
    columns: Vec<String>,
    /// Per mapped field, its column's position in `columns`.
    field_pos: Vec<usize>,
    /// Per mapped field, the hash of its name.
    names: Vec<u64>,
    version: u64,
}

impl ModelScan {
    async fn open(warehouse: &Warehouse, spec: &SyncSpec) -> Result<ModelScan, DiffError> {
        let model =
            TableName::new("models", &spec.model).map_err(|e| DiffError::Spec(e.to_string()))?;
        let no_model = || {
            DiffError::Spec(format!(
                "sync {}: models.{} has not been built (or is a view); run `lockstep run` first",
                spec.name, spec.model
            ))
        };
        let table = warehouse.load(&model).await?.ok_or_else(no_model)?;
        let version = table.version().unwrap_or(0).max(0) as u64;
        let df = warehouse.scan(&model).await?.ok_or_else(no_model)?;
        let mut columns = vec![spec.key_column.clone()];
        for m in &spec.fields {
            if !columns.contains(&m.column) {
                columns.push(m.column.clone());
            }
        }
        let available: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for (what, column) in std::iter::once(("the key", &spec.key_column))
            .chain(spec.fields.iter().map(|m| (m.field.as_str(), &m.column)))
        {
            if !available.contains(column) {
                return Err(DiffError::Spec(format!(
                    "sync {}: models.{} has no column `{column}` (mapped to {what}); it has: {}",
                    spec.name,
                    spec.model,
                    available.join(", ")
                )));
            }
        }
        let column_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
        let stream = df.select_columns(&column_refs)?.execute_stream().await?;
        let field_pos = spec
            .fields
            .iter()
            .map(|m| columns.iter().position(|c| *c == m.column).unwrap_or(0))
            .collect();
        Ok(ModelScan {
            stream,
            columns,
            field_pos,
            names: spec.fields.iter().map(|m| name_hash(&m.field)).collect(),
            version,
        })
    }

    /// The next batch as text columns (key first), or `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<StringArray>>, DiffError> {
        let Some(batch) = self.stream.next().await else {
            return Ok(None);
        };
        let batch = batch?;
        let texts = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, name)| text(batch.column(i), name))
            .collect::<Result<_, _>>()?;
        Ok(Some(texts))
    }

    /// Field values of `row` and their fingerprints (written into `hashes`); the row
    /// fingerprint is returned.
    fn fingerprint(&self, texts: &[StringArray], row: usize, hashes: &mut [u64]) -> u64 {
        for (f, h) in hashes.iter_mut().enumerate() {
            *h = field_hash(value(texts, &self.field_pos, f, row));
        }
        row_hash(&self.names, hashes)
    }
}

/// The text of mapped field `f` at `row`.
fn value<'a>(
    texts: &'a [StringArray],
    field_pos: &[usize],
    f: usize,
    row: usize,
) -> Option<&'a str> {
    let a = &texts[field_pos[f]];
    (!a.is_null(row)).then(|| a.value(row))
}

/// Record the model's current rows in the snapshot as already acknowledged, without
/// sending anything — for a destination loaded by other means (an import, an earlier
/// tool) and for benchmarks. Returns the rows recorded.
pub async fn baseline(warehouse: &Warehouse, spec: &SyncSpec) -> Result<u64, DiffError> {
    let mut scan = ModelScan::open(warehouse, spec).await?;
    let fields = spec.field_names();
    let mut hashes = vec![0u64; spec.fields.len()];
    let (mut acks, mut rows) = (Vec::new(), 0u64);
    while let Some(texts) = scan.next().await? {
        for row in 0..texts[0].len() {
            if texts[0].is_null(row) {
                continue;
            }
            let rh = scan.fingerprint(&texts, row, &mut hashes);
            acks.push(snapshot::Ack {
                key: texts[0].value(row).to_string(),
                dest_id: None,
                row_hash: rh,
                field_hashes: hashes.clone(),
                deleted: false,
                plan_id: "baseline".into(),
            });
        }
        if acks.len() >= 1_000_000 {
            rows += acks.len() as u64;
            snapshot::append(warehouse, &spec.name, &fields, &acks).await?;
            acks.clear();
        }
    }
    rows += acks.len() as u64;
    snapshot::append(warehouse, &spec.name, &fields, &acks).await?;
    Ok(rows)
}

/// Diff `spec`'s model against its snapshot.
pub async fn diff(warehouse: &Warehouse, spec: &SyncSpec) -> Result<Diff, DiffError> {
    let mut scan = ModelScan::open(warehouse, spec).await?;
    let model_version = scan.version;
    let mut index = snapshot::index(warehouse, &spec.name).await?;

    let mut counts = Counts::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut new_keys = KeySet::default();
    let (mut null_keys, mut null_examples) = (0u64, Vec::new());
    let (mut dup_keys, mut dup_examples) = (0u64, Vec::new());
    let mut hashes = vec![0u64; spec.fields.len()];

    while let Some(texts) = scan.next().await? {
        let keys = &texts[0];
        for row in 0..keys.len() {
            counts.model_rows += 1;
            if keys.is_null(row) {
                null_keys += 1;
                if null_examples.len() < EXAMPLES {
                    null_examples.push(describe_row(spec, |f| {
                        value(&texts, &scan.field_pos, f, row)
                    }));
                }
                continue;
            }
            let key = keys.value(row);
            let rh = scan.fingerprint(&texts, row, &mut hashes);
            let kh = key_hash(key);
            let existed = match index.entries.get_mut(&kh) {
                Some(e) if e.seen => {
                    dup_keys += 1;
                    if dup_examples.len() < EXAMPLES {
                        dup_examples.push(key.to_string());
                    }
                    continue;
                }
                Some(e) => {
                    e.seen = true;
                    if !e.deleted && e.row_hash == rh {
                        counts.unchanged += 1;
                        continue;
                    }
                    !e.deleted
                }
                None => {
                    if !new_keys.insert(kh) {
                        dup_keys += 1;
                        if dup_examples.len() < EXAMPLES {
                            dup_examples.push(key.to_string());
                        }
                        continue;
                    }
                    false
                }
            };
            pending.push(Pending {
                key: key.to_string(),
                hash: kh,
                existed,
                values: (0..spec.fields.len())
                    .map(|f| value(&texts, &scan.field_pos, f, row).map(str::to_string))
                    .collect(),
                field_hashes: hashes.clone(),
                row_hash: rh,
            });
        }
    }
    if null_keys > 0 {
        return Err(DiffError::Keys {
            sync: spec.name.clone(),
            problem: format!(
                "models.{} has {null_keys} row(s) whose key column `{}` is NULL, e.g. {}",
                spec.model,
                spec.key_column,
                null_examples.join("; ")
            ),
        });
    }
    if dup_keys > 0 {
        return Err(DiffError::Keys {
            sync: spec.name.clone(),
            problem: format!(
                "models.{} has {dup_keys} duplicate value(s) of key column `{}`, e.g. {}",
                spec.model,
                spec.key_column,
                dup_examples.join(", ")
            ),
        });
    }

    let mirror_clear = match spec.mode {
        Mode::Mirror { clear } => Some(clear),
        _ => None,
    };
    let mut wanted: KeySet = pending
        .iter()
        .filter(|p| p.existed)
        .map(|p| p.hash)
        .collect();
    if mirror_clear.is_some() {
        wanted.extend(
            index
                .entries
                .iter()
                .filter(|(_, e)| !e.seen && !e.deleted)
                .map(|(k, _)| *k),
        );
    }
    let details = snapshot::details(warehouse, &spec.name, &wanted).await?;

    let mut changes = Vec::with_capacity(pending.len());
    pending.sort_by(|a, b| a.key.cmp(&b.key));
    for p in pending {
        let detail = details.get(&p.hash).filter(|_| p.existed);
        let change = match (detail, spec.mode) {
            (Some(_), Mode::CreateOnly) => {
                counts.skipped += 1;
                continue;
            }
            (Some(d), _) => {
                counts.updates += 1;
                let values = p
                    .values
                    .into_iter()
                    .enumerate()
                    .filter(|(f, _)| {
                        d.hashes.get(&spec.fields[*f].field) != Some(&p.field_hashes[*f])
                    })
                    .collect();
                Change {
                    op: Op::Update,
                    key: p.key,
                    dest_id: d.dest_id.clone(),
                    values,
                    row_hash: p.row_hash,
                    field_hashes: p.field_hashes,
                }
            }
            (None, mode) => {
                let op = if mode == Mode::UpdateOnly {
                    counts.updates += 1;
                    Op::Update
                } else {
                    counts.creates += 1;
                    Op::Create
                };
                // A new record needs only the fields that have a value.
                let values = p
                    .values
                    .into_iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_some())
                    .collect();
                Change {
                    op,
                    key: p.key,
                    dest_id: None,
                    values,
                    row_hash: p.row_hash,
                    field_hashes: p.field_hashes,
                }
            }
        };
        changes.push(change);
    }
    if let Some(clear) = mirror_clear {
        let mut gone: Vec<&snapshot::Detail> = index
            .entries
            .iter()
            .filter(|(_, e)| !e.seen && !e.deleted)
            .filter_map(|(k, _)| details.get(k))
            .collect();
        gone.sort_by(|a, b| a.key.cmp(&b.key));
        for d in gone {
            counts.deletes += 1;
            let values = if clear {
                (0..spec.fields.len()).map(|f| (f, None)).collect()
            } else {
                Vec::new()
            };
            changes.push(Change {
                op: Op::Delete,
                key: d.key.clone(),
                dest_id: d.dest_id.clone(),
                values,
                row_hash: 0,
                field_hashes: Vec::new(),
            });
        }
    }
    index.entries.clear();
    Ok(Diff {
        changes,
        counts,
        model_version,
        snapshot_seq: index.max_seq,
    })
}

fn describe_row<'a>(spec: &SyncSpec, value: impl Fn(usize) -> Option<&'a str>) -> String {
    let fields: BTreeMap<&str, &str> = spec
        .fields
        .iter()
        .enumerate()
        .take(4)
        .map(|(f, m)| (m.column.as_str(), value(f).unwrap_or("NULL")))
        .collect();
    format!("{{{}}}", {
        let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join(", ")
    })
}
