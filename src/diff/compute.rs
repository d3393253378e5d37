//! The diff itself: stream the model's key and mapped columns, fingerprint every
//! row, and classify it against the snapshot index. Only rows that differ keep their
//! values in memory; keys that changed or left are then looked up for their
//! per-field fingerprints so an update carries exactly the fields that changed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::scan::ModelScan;
use super::snapshot::{self, KeySet};
use super::{Change, DiffError, Mode, Op, SyncSpec};
use crate::warehouse::Warehouse;

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

/// Record the model's current rows in the snapshot as already acknowledged, without
/// sending anything — for a destination loaded by other means (an import, an earlier
/// tool) and for benchmarks. Returns the rows recorded.
pub async fn baseline(warehouse: &Warehouse, spec: &SyncSpec) -> Result<u64, DiffError> {
    let mut scan = ModelScan::open(warehouse, spec).await?;
    let fields = spec.field_names();
    let (mut acks, mut rows) = (Vec::new(), 0u64);
    while let Some(prints) = scan.next().await? {
        let all: Vec<usize> = (0..prints.len()).collect();
        for (row, text) in prints.texts(&all)?.into_iter().enumerate() {
            let Some(key) = text.key else { continue };
            acks.push(snapshot::Ack {
                key,
                dest_id: None,
                row_hash: prints.row_hash(row),
                field_hashes: prints.field_hashes(row).to_vec(),
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
    let started = std::time::Instant::now();
    let mut index = snapshot::index(warehouse, &spec.name).await?;
    tracing::debug!(sync = %spec.name, keys = index.entries.len(), secs = started.elapsed().as_secs_f64(), "diff: snapshot index read");

    let mut counts = Counts::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut new_keys = KeySet::default();
    let (mut null_keys, mut null_examples) = (0u64, Vec::new());
    let (mut dup_keys, mut dup_examples) = (0u64, Vec::new());

    while let Some(prints) = scan.next().await? {
        // Rows of this batch that differ (row, key hash, existed) and the first
        // rows with a NULL or repeated key, turned into text once per batch.
        let mut changed: Vec<(usize, u128, bool)> = Vec::new();
        let (mut null_rows, mut dup_rows) = (Vec::new(), Vec::new());
        for row in 0..prints.len() {
            counts.model_rows += 1;
            if !prints.has_key(row) {
                null_keys += 1;
                if null_examples.len() + null_rows.len() < EXAMPLES {
                    null_rows.push(row);
                }
                continue;
            }
            let rh = prints.row_hash(row);
            let kh = prints.key_hash(row);
            let existed = match index.entries.get_mut(&kh) {
                Some(e) if e.seen => None,
                Some(e) => {
                    e.seen = true;
                    if !e.deleted && e.row_hash == rh {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(!e.deleted)
                }
                None => new_keys.insert(kh).then_some(false),
            };
            match existed {
                Some(existed) => changed.push((row, kh, existed)),
                None => {
                    dup_keys += 1;
                    if dup_examples.len() + dup_rows.len() < EXAMPLES {
                        dup_rows.push(row);
                    }
                }
            }
        }
        for text in prints.texts(&null_rows)? {
            null_examples.push(describe_row(spec, |f| text.values[f].as_deref()));
        }
        dup_examples.extend(prints.texts(&dup_rows)?.into_iter().filter_map(|t| t.key));
        let rows: Vec<usize> = changed.iter().map(|c| c.0).collect();
        for ((row, hash, existed), text) in changed.into_iter().zip(prints.texts(&rows)?) {
            pending.push(Pending {
                key: text.key.unwrap_or_default(),
                hash,
                existed,
                values: text.values,
                field_hashes: prints.field_hashes(row).to_vec(),
                row_hash: prints.row_hash(row),
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
    tracing::debug!(sync = %spec.name, rows = counts.model_rows, changed = pending.len(), secs = started.elapsed().as_secs_f64(), "diff: model fingerprinted and classified");
    let details = snapshot::details(warehouse, &spec.name, &wanted).await?;
    tracing::debug!(sync = %spec.name, keys = details.len(), secs = started.elapsed().as_secs_f64(), "diff: snapshot details read");

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
