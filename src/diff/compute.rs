//! The diff itself: stream the model's key and mapped columns, fingerprint every
//! row, and classify it against the snapshot index. Only rows that differ keep their
//! values in memory; keys that changed or left are then looked up for their
//! per-field fingerprints so an update carries exactly the fields that changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::scan::{ModelScan, Prints};
use super::snapshot::{self, Index, KeySet};
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
    let mut results = ModelScan::open(warehouse, spec)
        .await?
        .stream(|prints| {
            let all: Vec<usize> = (0..prints.len()).collect();
            let texts = prints.texts(&all)?;
            Ok(texts
                .into_iter()
                .enumerate()
                .filter_map(|(row, text)| {
                    Some(snapshot::Ack {
                        key: text.key?,
                        dest_id: None,
                        row_hash: prints.row_hash(row),
                        field_hashes: prints.field_hashes(row).to_vec(),
                        deleted: false,
                        plan_id: "baseline".into(),
                    })
                })
                .collect::<Vec<_>>())
        })
        .await?;
    let fields = spec.field_names();
    let (mut acks, mut rows) = (Vec::new(), 0u64);
    while let Some(batch) = results.next().await? {
        acks.extend(batch);
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

/// What classifying model batches found; batches are classified on worker threads
/// and their results added up in order.
#[derive(Default)]
struct Classified {
    model_rows: u64,
    unchanged: u64,
    pending: Vec<Pending>,
    null_keys: u64,
    null_examples: Vec<String>,
    dup_keys: u64,
    dup_examples: Vec<String>,
    /// Index locations of the snapshot keys this batch has, marked seen by the
    /// caller: an atomic read-modify-write per row on the workers would stall
    /// the prefetched lookups that follow it.
    marks: Vec<u64>,
}

impl Classified {
    fn absorb(&mut self, other: Classified) {
        self.model_rows += other.model_rows;
        self.unchanged += other.unchanged;
        self.pending.extend(other.pending);
        self.null_keys += other.null_keys;
        self.dup_keys += other.dup_keys;
        for (mine, theirs) in [
            (&mut self.null_examples, other.null_examples),
            (&mut self.dup_examples, other.dup_examples),
        ] {
            let room = EXAMPLES.saturating_sub(mine.len());
            mine.extend(theirs.into_iter().take(room));
        }
    }
}

/// Classifies model batches against the snapshot index, shared by the workers.
struct Classifier {
    spec: SyncSpec,
    index: Arc<Index>,
    /// Keys the snapshot does not have, to catch a new key the model repeats.
    new_keys: Mutex<KeySet>,
}

impl Classifier {
    fn classify(&self, prints: Prints) -> Result<Classified, DiffError> {
        let mut out = Classified::default();
        // Rows that differ (row, key hash, existed) and the first rows with a NULL
        // or repeated key; only those are turned into text.
        let mut changed: Vec<(usize, u128, bool)> = Vec::new();
        let (mut null_rows, mut dup_rows) = (Vec::new(), Vec::new());
        for row in 0..prints.len() {
            out.model_rows += 1;
            if !prints.has_key(row) {
                out.null_keys += 1;
                if null_rows.len() < EXAMPLES {
                    null_rows.push(row);
                }
                continue;
            }
            if let Some(ahead) = prints.key_hash_at(row + snapshot::PREFETCH) {
                self.index.prefetch(ahead);
            }
            let kh = prints.key_hash(row);
            let existed = match self.index.get(kh) {
                Some(e) => {
                    out.marks.push(self.index.locate(kh, &e));
                    if !e.deleted && e.row_hash == prints.row_hash(row) {
                        out.unchanged += 1;
                        continue;
                    }
                    Some(!e.deleted)
                }
                None => self
                    .new_keys
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(kh)
                    .then_some(false),
            };
            match existed {
                Some(existed) => changed.push((row, kh, existed)),
                None => {
                    out.dup_keys += 1;
                    if dup_rows.len() < EXAMPLES {
                        dup_rows.push(row);
                    }
                }
            }
        }
        for text in prints.texts(&null_rows)? {
            out.null_examples
                .push(describe_row(&self.spec, |f| text.values[f].as_deref()));
        }
        out.dup_examples
            .extend(prints.texts(&dup_rows)?.into_iter().filter_map(|t| t.key));
        let rows: Vec<usize> = changed.iter().map(|c| c.0).collect();
        for ((row, hash, existed), text) in changed.into_iter().zip(prints.texts(&rows)?) {
            out.pending.push(Pending {
                key: text.key.unwrap_or_default(),
                hash,
                existed,
                values: text.values,
                field_hashes: prints.field_hashes(row).to_vec(),
                row_hash: prints.row_hash(row),
            });
        }
        Ok(out)
    }
}

/// Diff `spec`'s model against its snapshot.
pub async fn diff(warehouse: &Warehouse, spec: &SyncSpec) -> Result<Diff, DiffError> {
    // Opened first so that a sync that does not fit its model fails before the
    // snapshot is read.
    let scan = ModelScan::open(warehouse, spec).await?;
    let model_version = scan.version;
    let started = std::time::Instant::now();
    let index = Arc::new(snapshot::index(warehouse, &spec.name).await?);
    tracing::debug!(sync = %spec.name, keys = index.len(), secs = started.elapsed().as_secs_f64(), "diff: snapshot index read");

    let classifier = Arc::new(Classifier {
        spec: spec.clone(),
        index: index.clone(),
        new_keys: Mutex::new(KeySet::default()),
    });
    let mut results = scan
        .stream(move |prints| classifier.classify(prints))
        .await?;
    let mut found = Classified::default();
    // Snapshot keys the model repeats: found when marking them seen a second time.
    let mut repeated = KeySet::default();
    while let Some(mut batch) = results.next().await? {
        for at in std::mem::take(&mut batch.marks) {
            if index.mark_seen(at) {
                batch.dup_keys += 1;
                if repeated.len() < EXAMPLES {
                    repeated.insert(index.key_at(at));
                }
            }
        }
        found.absorb(batch);
    }
    drop(results);
    let Classified {
        model_rows,
        unchanged,
        mut pending,
        null_keys,
        null_examples,
        dup_keys,
        mut dup_examples,
        ..
    } = found;
    let mut counts = Counts {
        model_rows,
        unchanged,
        ..Counts::default()
    };
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
        let known = snapshot::details(warehouse, &spec.name, repeated).await?;
        dup_examples.extend(known.into_values().map(|d| d.key));
        dup_examples.truncate(EXAMPLES);
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
    // Keys that left the model (mirror mode), found before the index is dropped:
    // the details pass then has its memory.
    let gone_keys: Vec<u128> = match mirror_clear {
        Some(_) => index
            .iter()
            .filter(|(k, e)| !index.seen(*k, e) && !e.deleted)
            .map(|(k, _)| k)
            .collect(),
        None => Vec::new(),
    };
    let snapshot_seq = index.max_seq;
    drop(index);
    let wanted: KeySet = pending
        .iter()
        .filter(|p| p.existed)
        .map(|p| p.hash)
        .chain(gone_keys.iter().copied())
        .collect();
    tracing::debug!(sync = %spec.name, rows = model_rows, changed = pending.len(), secs = started.elapsed().as_secs_f64(), "diff: model fingerprinted and classified");
    let details = snapshot::details(warehouse, &spec.name, wanted).await?;
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
        let mut gone: Vec<&snapshot::Detail> =
            gone_keys.iter().filter_map(|k| details.get(k)).collect();
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
    Ok(Diff {
        changes,
        counts,
        model_version,
        snapshot_seq,
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
