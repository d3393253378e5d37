//! Reading a model for a diff: its key and mapped columns, streamed, each batch
//! turned into canonical text and fingerprints (key hash, row hash, field hashes) on
//! the blocking pool, two batches at a time, so fingerprinting uses both cores while
//! the diff classifies rows in order.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::canonical::{field_hash, key_hash, name_hash, row_hash, text};
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

/// One batch of model rows, fingerprinted.
pub(super) struct Prints {
    /// Canonical text per column (the key first).
    texts: Vec<StringArray>,
    field_pos: Arc<Layout>,
    keys: Vec<u128>,
    rows: Vec<u64>,
    /// `len × fields` field hashes, row-major.
    fields: Vec<u64>,
}

impl Prints {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The key of `row`, or `None` when it is NULL.
    pub fn key(&self, row: usize) -> Option<&str> {
        let k = &self.texts[0];
        (!k.is_null(row)).then(|| k.value(row))
    }

    /// The key hash of `row` (meaningless for a NULL key).
    pub fn key_hash(&self, row: usize) -> u128 {
        self.keys[row]
    }

    /// The row fingerprint of `row`.
    pub fn row_hash(&self, row: usize) -> u64 {
        self.rows[row]
    }

    /// The field fingerprints of `row`, in the sync's field order.
    pub fn field_hashes(&self, row: usize) -> &[u64] {
        let n = self.field_pos.field_pos.len();
        &self.fields[row * n..(row + 1) * n]
    }

    /// The canonical text of mapped field `f` at `row`.
    pub fn value(&self, f: usize, row: usize) -> Option<&str> {
        let a = &self.texts[self.field_pos.field_pos[f]];
        (!a.is_null(row)).then(|| a.value(row))
    }
}

fn fingerprint(batch: RecordBatch, layout: Arc<Layout>) -> Result<Prints, DiffError> {
    let texts: Vec<StringArray> = layout
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| text(batch.column(i), name))
        .collect::<Result<_, _>>()?;
    let n = batch.num_rows();
    let nf = layout.field_pos.len();
    let mut keys = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    let mut fields = vec![0u64; n * nf];
    for row in 0..n {
        let k = &texts[0];
        keys.push(if k.is_null(row) {
            0
        } else {
            key_hash(k.value(row))
        });
        let hashes = &mut fields[row * nf..(row + 1) * nf];
        for (f, h) in hashes.iter_mut().enumerate() {
            let a = &texts[layout.field_pos[f]];
            *h = field_hash((!a.is_null(row)).then(|| a.value(row)));
        }
        rows.push(row_hash(&layout.names, hashes));
    }
    Ok(Prints {
        texts,
        field_pos: layout,
        keys,
        rows,
        fields,
    })
}

/// A streaming, fingerprinting read of a sync's model.
pub(super) struct ModelScan {
    stream: BoxStream<'static, Result<Prints, DiffError>>,
    /// Delta version of the model read.
    pub version: u64,
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
        let batches = df.select_columns(&column_refs)?.execute_stream().await?;
        let layout = Arc::new(Layout {
            field_pos: spec
                .fields
                .iter()
                .map(|m| columns.iter().position(|c| *c == m.column).unwrap_or(0))
                .collect(),
            names: spec.fields.iter().map(|m| name_hash(&m.field)).collect(),
            columns,
        });
        let stream = batches
            .map(move |batch| {
                let layout = layout.clone();
                async move {
                    let batch = batch?;
                    tokio::task::spawn_blocking(move || fingerprint(batch, layout))
                        .await
                        .map_err(|e| DiffError::Column(format!("fingerprinting stopped: {e}")))?
                }
            })
            .buffered(2)
            .boxed();
        Ok(ModelScan { stream, version })
    }

    /// The next fingerprinted batch, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Prints>, DiffError> {
        self.stream.next().await.transpose()
    }
}
