//! Reading a model for a diff: its key and mapped columns, streamed, each batch
//! fingerprinted (key hash, row hash, field hashes) and handed to the caller's work
//! (the diff classifies it) on the blocking pool, several batches at a time, results
//! in order. Text is only made for the rows that changed.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, UInt32Array};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::canonical::{field_hash, for_each_text, key_hash_bytes, name_hash, row_hash_with, text};
use super::{DiffError, SyncSpec};
use crate::warehouse::{TableName, Warehouse};

/// What fingerprinting a batch needs to know, shared with the worker threads.
struct Layout {
    columns: Vec<String>,
    /// Per mapped field, its column's position in `columns`.
    field_pos: Vec<usize>,
    /// Per mapped field, the hash of its name.
    names: Vec<u64>,
}

/// Fingerprints of one batch of model rows. The batch itself is kept so that the
/// few rows that changed can be turned into text; the rest never are.
pub(super) struct Prints {
    batch: RecordBatch,
    layout: Arc<Layout>,
    keys: Vec<u128>,
    rows: Vec<u64>,
    fields: Vec<u64>,
}

/// A row's key and mapped values as canonical text.
pub(super) struct RowText {
    pub key: Option<String>,
    pub values: Vec<Option<String>>,
}

impl Prints {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the row has a (non-NULL) key.
    pub fn has_key(&self, row: usize) -> bool {
        !self.batch.column(0).is_null(row)
    }

    /// The key fingerprint (0 for a NULL key).
    pub fn key_hash(&self, row: usize) -> u128 {
        self.keys[row]
    }

    /// The key fingerprint of `row`, if the batch has that row (0 for a NULL key).
    pub fn key_hash_at(&self, row: usize) -> Option<u128> {
        self.keys.get(row).copied()
    }

    /// The row fingerprint over all mapped fields.
    pub fn row_hash(&self, row: usize) -> u64 {
        self.rows[row]
    }

    /// Per-field fingerprints, in mapping order.
    pub fn field_hashes(&self, row: usize) -> &[u64] {
        let n = self.layout.field_pos.len();
        &self.fields[row * n..(row + 1) * n]
    }

    /// The key and mapped values of `rows` as text, in that order.
    pub fn texts(&self, rows: &[usize]) -> Result<Vec<RowText>, DiffError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let indices = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
        let columns: Vec<StringArray> = self
            .batch
            .columns()
            .iter()
            .zip(&self.layout.columns)
            .map(|(c, name)| {
                let picked = arrow::compute::take(c, &indices, None)
                    .map_err(|e| DiffError::Column(format!("column {name}: {e}")))?;
                text(&picked, name)
            })
            .collect::<Result<_, _>>()?;
        let at = |c: &StringArray, j: usize| (!c.is_null(j)).then(|| c.value(j).to_string());
        Ok((0..rows.len())
            .map(|j| RowText {
                key: at(&columns[0], j),
                values: self
                    .layout
                    .field_pos
                    .iter()
                    .map(|&p| at(&columns[p], j))
                    .collect(),
            })
            .collect())
    }
}

/// Fingerprint a batch: per column, each value's canonical text is hashed where it
/// lies (see `canonical::for_each_text`); then each row's field hashes are gathered
/// in mapping order and combined into the row hash.
fn fingerprint(batch: RecordBatch, layout: Arc<Layout>) -> Result<Prints, DiffError> {
    let n = batch.num_rows();
    let nf = layout.field_pos.len();
    // Values are visited in row order, so results are pushed, not written into
    // zero-filled buffers (zeroing them was a measurable share of a large diff).
    let mut keys = Vec::with_capacity(n);
    for_each_text(batch.column(0), &layout.columns[0], |i, t| {
        debug_assert_eq!(i, keys.len());
        keys.push(t.map_or(0, key_hash_bytes));
    })?;
    let mut per_column: Vec<Vec<u64>> = vec![Vec::new(); layout.columns.len()];
    for &p in &layout.field_pos {
        if per_column[p].is_empty() && n > 0 {
            let mut hashes = Vec::with_capacity(n);
            for_each_text(batch.column(p), &layout.columns[p], |i, t| {
                debug_assert_eq!(i, hashes.len());
                hashes.push(field_hash(t));
            })?;
            per_column[p] = hashes;
        }
    }
    let mut rows = Vec::with_capacity(n);
    let mut fields = Vec::with_capacity(n * nf);
    let mut scratch = Vec::with_capacity(16 * nf);
    let mapped: Vec<&[u64]> = layout
        .field_pos
        .iter()
        .map(|&p| per_column[p].as_slice())
        .collect();
    for row in 0..n {
        let start = fields.len();
        fields.extend(mapped.iter().map(|column| column[row]));
        rows.push(row_hash_with(&layout.names, &fields[start..], &mut scratch));
    }
    Ok(Prints {
        batch,
        layout,
        keys,
        rows,
        fields,
    })
}

/// A model opened for a diff: its key and mapped columns checked, not read yet.
pub(super) struct ModelScan {
    df: datafusion::prelude::DataFrame,
    layout: Arc<Layout>,
    /// Delta version of the model read.
    pub version: u64,
}

/// The per-batch results of [`ModelScan::stream`], in the model's order.
pub(super) struct ScanResults<T> {
    stream: BoxStream<'static, Result<T, DiffError>>,
}

impl ModelScan {
    /// Open `models.<spec.model>`, checking that the key and mapped columns exist.
    pub async fn open(warehouse: &Warehouse, spec: &SyncSpec) -> Result<ModelScan, DiffError> {
        let model =
            TableName::new("models", &spec.model).map_err(|e| DiffError::Spec(e.to_string()))?;
        let no_model = || {
            DiffError::Spec(format!(
                "sync {}: models.{} has not been built (or is a view); run `lockstep run` first",
                spec.name, spec.model
            ))
        };
        let table = warehouse.load(&model).await?.ok_or_else(no_model)?;
        let version = table.version().unwrap_or(0);
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
        let df = df.select_columns(&column_refs)?;
        let layout = Arc::new(Layout {
            field_pos: spec
                .fields
                .iter()
                .map(|m| columns.iter().position(|c| *c == m.column).unwrap_or(0))
                .collect(),
            names: spec.fields.iter().map(|m| name_hash(&m.field)).collect(),
            columns,
        });
        Ok(ModelScan {
            df,
            layout,
            version,
        })
    }

    /// Read the model: each batch is fingerprinted and handed to `work` on the
    /// blocking pool, three batches at a time, so that the fingerprinting and what
    /// the caller does with it (classifying, making text) keep both cores busy
    /// while the next batch is decoded.
    pub async fn stream<T, W>(self, work: W) -> Result<ScanResults<T>, DiffError>
    where
        T: Send + 'static,
        W: Fn(Prints) -> Result<T, DiffError> + Send + Sync + 'static,
    {
        let batches = self.df.execute_stream().await?;
        let (layout, work) = (self.layout, Arc::new(work));
        let stream = batches
            .map(move |batch| {
                let (layout, work) = (layout.clone(), work.clone());
                async move {
                    let batch = batch?;
                    tokio::task::spawn_blocking(move || work(fingerprint(batch, layout)?))
                        .await
                        .map_err(|e| DiffError::Column(format!("fingerprinting stopped: {e}")))?
                }
            })
            .buffered(3)
            .boxed();
        Ok(ScanResults { stream })
    }
}

impl<T> ScanResults<T> {
    /// The next batch's result, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<T>, DiffError> {
        self.stream.next().await.transpose()
    }
}
