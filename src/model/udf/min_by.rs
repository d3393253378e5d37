//! `min_by(value, key)`: the `value` of the row with the smallest integer `key` in
//! each group, as in DuckDB and Spark. Rows with a NULL key are skipped; a group
//! without any row (all filtered out) gives NULL. With keys unique in a group (a
//! `row_number()` rank) the answer is the value of one determined row; on a tie
//! the row seen first wins, which depends on how the rows arrive.
//!
//! Why it exists: survivorship picks, per golden customer, the value of the record
//! ranked first among those holding one, i.e. `first_value(x ORDER BY rank) FILTER
//! (WHERE ...)`. DataFusion's `first_value` with an ORDER BY compares the order
//! keys as generic values row by row; at 1M orders the seven of them in
//! `golden_customers` were ~3 s of CPU. This compares one integer per row and
//! copies a value only when a group's best row changes. Same result as
//! `first_value(value ORDER BY key)` for unique non-NULL keys.

use std::mem::size_of;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::model::held_rows::compact_column;

/// The `min_by` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MinBy {
    signature: Signature,
}

impl MinBy {
    /// The function.
    pub fn new() -> Self {
        MinBy {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for MinBy {
    fn default() -> Self {
        Self::new()
    }
}

/// Keys are compared as i64: any integer type converts.
fn check_key(key: &DataType) -> Result<()> {
    if key.is_integer() {
        Ok(())
    } else {
        Err(DataFusionError::Plan(format!(
            "min_by(value, key): key must be an integer, not {key}"
        )))
    }
}

/// A key column as i64 (ranks from `row_number()` are u64, far below i64::MAX).
fn keys_of(array: &ArrayRef) -> Result<Int64Array> {
    let cast = arrow::compute::cast(array, &DataType::Int64)?;
    Ok(cast.as_primitive::<Int64Type>().clone())
}

impl AggregateUDFImpl for MinBy {
    fn name(&self) -> &str {
        "min_by"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [value, key] => {
                check_key(key)?;
                Ok(value.clone())
            }
            _ => Err(DataFusionError::Plan(
                "min_by takes two arguments: (value, key)".into(),
            )),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MinByAccumulator {
            best: None,
            null: ScalarValue::try_from(args.return_type())?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[value]", args.name),
                args.return_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[key]", args.name),
                DataType::Int64,
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MinByGroups::new(&ScalarValue::try_from(
            args.return_type(),
        )?)?))
    }
}

/// No pending row for a group in the current batch.
const NONE: u32 = u32::MAX;

/// `min_by` per group: the best key so far (None: no row yet) and where its value
/// is: a row of one of the chunks. A batch's values that became some group's best
/// are copied out together into one chunk (one take, its text compacted; a
/// `ScalarValue` per group and batch, rebuilt into an array at the end, was 0.8 s
/// of the 1.95 s that `golden_customers`' aggregate took at 10M orders); the
/// answer is gathered from the chunks at the end.
#[derive(Debug)]
struct MinByGroups {
    keys: Vec<Option<i64>>,
    /// Per group, its best value's (chunk, row); a group without one points at
    /// [`NULL_CHUNK`]'s only row.
    best: Vec<(u32, u32)>,
    /// Copied values; chunk 0 is a single NULL.
    chunks: Vec<ArrayRef>,
    /// Per group, the batch row that is its best so far in the batch being added
    /// (so a value is copied once per group and batch, not once per improvement).
    pending: Vec<u32>,
    /// The groups with a pending row.
    touched: Vec<usize>,
    /// Bytes the chunks hold, kept up to date for `size`.
    chunk_bytes: usize,
}

/// The chunk holding the NULL every group starts with.
const NULL_CHUNK: u32 = 0;

impl MinByGroups {
    /// Groups whose values are of `null`'s type.
    fn new(null: &ScalarValue) -> Result<Self> {
        let null_chunk = null.to_array_of_size(1)?;
        Ok(MinByGroups {
            chunk_bytes: null_chunk.get_array_memory_size(),
            keys: Vec::new(),
            best: Vec::new(),
            chunks: vec![null_chunk],
            pending: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Add rows: `values` and their `keys`, counting only rows `filter` keeps.
    fn add(
        &mut self,
        values: &ArrayRef,
        keys: &Int64Array,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        if self.keys.len() < total_num_groups {
            self.keys.resize(total_num_groups, None);
            self.best.resize(total_num_groups, (NULL_CHUNK, 0));
            self.pending.resize(total_num_groups, NONE);
        }
        for (row, &group) in group_indices.iter().enumerate() {
            if keys.is_null(row) || filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            let key = keys.value(row);
            if self.keys[group].is_some_and(|best| best <= key) {
                continue;
            }
            self.keys[group] = Some(key);
            if self.pending[group] == NONE {
                self.touched.push(group);
            }
            self.pending[group] = row as u32;
        }
        if self.touched.is_empty() {
            return Ok(());
        }
        let chunk = u32::try_from(self.chunks.len())
            .map_err(|_| DataFusionError::Internal("min_by: too many batches".into()))?;
        let rows: UInt32Array = self
            .touched
            .iter()
            .map(|&group| self.pending[group])
            .collect();
        for (i, group) in self.touched.drain(..).enumerate() {
            self.pending[group] = NONE;
            self.best[group] = (chunk, i as u32);
        }
        let copied = compact_column(&arrow::compute::take(values, &rows, None)?);
        self.chunk_bytes += copied.get_array_memory_size();
        self.chunks.push(copied);
        Ok(())
    }

    /// Take the values of the groups `emit_to` says, as an array.
    fn take_values(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let emitted = emit_to.take_needed(&mut self.best);
        emit_to.take_needed(&mut self.pending);
        let chunks: Vec<&dyn Array> = self.chunks.iter().map(|c| c.as_ref()).collect();
        let indices: Vec<(usize, usize)> = emitted
            .iter()
            .map(|&(chunk, row)| (chunk as usize, row as usize))
            .collect();
        let values = arrow::compute::interleave(&chunks, &indices)?;
        // The groups left (an EmitTo::First) are gathered into one chunk of their
        // own, so the emitted groups' values are freed.
        let kept = if self.best.is_empty() {
            None
        } else {
            let left: Vec<(usize, usize)> = self
                .best
                .iter()
                .map(|&(chunk, row)| (chunk as usize, row as usize))
                .collect();
            Some(compact_column(&arrow::compute::interleave(&chunks, &left)?))
        };
        drop(chunks);
        self.chunks.truncate(1);
        self.chunk_bytes = self.chunks[0].get_array_memory_size();
        if let Some(kept) = kept {
            for (i, best) in self.best.iter_mut().enumerate() {
                *best = (1, i as u32);
            }
            self.chunk_bytes += kept.get_array_memory_size();
            self.chunks.push(kept);
        }
        Ok(values)
    }
}

impl GroupsAccumulator for MinByGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let keys = keys_of(&values[1])?;
        self.add(
            &values[0],
            &keys,
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        emit_to.take_needed(&mut self.keys);
        self.take_values(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let keys: Int64Array = emit_to.take_needed(&mut self.keys).into_iter().collect();
        let values = self.take_values(emit_to)?;
        Ok(vec![values, Arc::new(keys)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        // A state's NULL key is a group that had no row: skipped like a NULL key.
        let keys = keys_of(&values[1])?;
        self.add(&values[0], &keys, group_indices, None, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group: a row the filter drops becomes a NULL key.
        let keys = keys_of(&values[1])?;
        let keys: Int64Array = match opt_filter {
            Some(filter) => keys
                .iter()
                .zip(filter.iter())
                .map(|(k, keep)| if keep == Some(true) { k } else { None })
                .collect(),
            None => keys,
        };
        Ok(vec![Arc::clone(&values[0]), Arc::new(keys)])
    }

    fn size(&self) -> usize {
        self.keys.capacity() * size_of::<Option<i64>>()
            + self.best.capacity() * size_of::<(u32, u32)>()
            + self.chunks.capacity() * size_of::<ArrayRef>()
            + self.pending.capacity() * size_of::<u32>()
            + self.touched.capacity() * size_of::<usize>()
            + self.chunk_bytes
    }
}

/// `min_by` without GROUP BY (or where DataFusion asks for a row-wise accumulator).
#[derive(Debug)]
struct MinByAccumulator {
    best: Option<(i64, ScalarValue)>,
    null: ScalarValue,
}

impl MinByAccumulator {
    fn add(&mut self, values: &ArrayRef, keys: &Int64Array) -> Result<()> {
        let mut best_row = None;
        let mut best_key = self.best.as_ref().map(|(k, _)| *k);
        for (row, key) in keys.iter().enumerate() {
            if let Some(key) = key
                && best_key.is_none_or(|b| key < b)
            {
                best_key = Some(key);
                best_row = Some(row);
            }
        }
        if let (Some(row), Some(key)) = (best_row, best_key) {
            self.best = Some((key, ScalarValue::try_from_array(values, row)?));
        }
        Ok(())
    }
}

impl Accumulator for MinByAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let keys = keys_of(&values[1])?;
        self.add(&values[0], &keys)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self
            .best
            .as_ref()
            .map_or_else(|| self.null.clone(), |(_, v)| v.clone()))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.best.as_ref().map_or(0, |(_, v)| v.size()) + self.null.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(match &self.best {
            Some((key, value)) => vec![value.clone(), ScalarValue::Int64(Some(*key))],
            None => vec![self.null.clone(), ScalarValue::Int64(None)],
        })
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let keys = keys_of(&states[1])?;
        self.add(&states[0], &keys)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array as I64, StringArray};
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    /// A session with `min_by`, tiny batches and two partitions, so that partial
    /// states are merged across batches and partitions.
    fn session() -> SessionContext {
        let ctx = SessionContext::new_with_config(
            SessionConfig::new()
                .with_target_partitions(2)
                .with_batch_size(2),
        );
        ctx.register_udaf(AggregateUDF::from(MinBy::new()));
        let batch = arrow::array::RecordBatch::try_from_iter(vec![
            (
                "g",
                Arc::new(StringArray::from(vec!["a", "a", "b", "a", "b", "c", "a"])) as ArrayRef,
            ),
            (
                "v",
                Arc::new(StringArray::from(vec![
                    Some("a3"),
                    None,
                    Some("b2"),
                    Some("a1"),
                    Some("b9"),
                    Some("c5"),
                    Some("a4"),
                ])) as ArrayRef,
            ),
            (
                "k",
                Arc::new(I64::from(vec![
                    Some(3),
                    Some(2),
                    Some(2),
                    Some(1),
                    None,
                    Some(5),
                    Some(4),
                ])) as ArrayRef,
            ),
        ])
        .unwrap();
        ctx.register_batch("t", batch).unwrap();
        ctx
    }

    async fn query(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        // The table's rows, without its header line.
        let mut lines: Vec<String> = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .map(String::from)
            .collect();
        lines.sort();
        lines
    }

    #[tokio::test]
    async fn picks_the_value_of_the_smallest_key_as_first_value_does() {
        let ctx = session();
        for filter in ["", " FILTER (WHERE v IS NOT NULL)", " FILTER (WHERE k > 1)"] {
            let ours = query(
                &ctx,
                &format!("SELECT g, min_by(v, k){filter} AS x FROM t GROUP BY g"),
            )
            .await;
            let theirs = query(
                &ctx,
                &format!("SELECT g, first_value(v ORDER BY k){filter} AS x FROM t GROUP BY g"),
            )
            .await;
            // first_value orders NULL keys last; min_by skips them. Same here:
            // every group has a row with a key.
            assert_eq!(ours, theirs, "{filter}");
        }
        let plain = query(&ctx, "SELECT g, min_by(v, k) AS x FROM t GROUP BY g").await;
        // a: key 1 (a1) beats 2 (NULL value), 3, 4; b: 2 beats the NULL key.
        assert_eq!(plain[0], "| a | a1 |", "{plain:?}");
        assert_eq!(plain[1], "| b | b2 |", "{plain:?}");
        let filtered = query(
            &ctx,
            "SELECT g, min_by(v, k) FILTER (WHERE k > 1) AS x FROM t GROUP BY g",
        )
        .await;
        // a: key 2 wins, and its value is NULL.
        assert!(
            filtered.iter().any(|l| l.starts_with("| a |  ")),
            "{filtered:?}"
        );
    }

    #[test]
    fn groups_keep_their_best_across_batches_and_partial_emits() {
        let mut acc = MinByGroups::new(&ScalarValue::Utf8View(None)).unwrap();
        let values = |v: &[Option<&str>]| -> ArrayRef {
            Arc::new(arrow::array::StringViewArray::from(v.to_vec()))
        };
        let keys = |k: &[Option<i64>]| -> ArrayRef { Arc::new(I64::from(k.to_vec())) };
        // Groups 0..3; group 3 never gets a row, group 1 only a NULL key.
        acc.update_batch(
            &[
                values(&[Some("a5"), Some("b?"), Some("c2")]),
                keys(&[Some(5), None, Some(2)]),
            ],
            &[0, 1, 2],
            None,
            4,
        )
        .unwrap();
        // Group 0 improves (a5 -> a1, long enough to live outside the view), group
        // 2 does not (c2 beats c7), and the filter drops group 0's key 0.
        let long = "a1 is a value longer than twelve bytes";
        acc.update_batch(
            &[
                values(&[Some(long), Some("c7"), Some("a0")]),
                keys(&[Some(1), Some(7), Some(0)]),
            ],
            &[0, 2, 0],
            Some(&BooleanArray::from(vec![true, true, false])),
            4,
        )
        .unwrap();
        let first = acc.evaluate(EmitTo::First(1)).unwrap();
        assert_eq!(first.as_string_view().value(0), long);
        let rest = acc.evaluate(EmitTo::All).unwrap();
        let rest = rest.as_string_view();
        assert_eq!(rest.len(), 3);
        assert!(rest.is_null(0), "group 1 had only a NULL key");
        assert_eq!(rest.value(1), "c2");
        assert!(rest.is_null(2), "group 3 had no row");
    }

    #[tokio::test]
    async fn without_group_by_and_with_no_rows() {
        let ctx = session();
        let all = query(&ctx, "SELECT min_by(v, k) AS x FROM t").await;
        assert_eq!(all, vec!["| a1 |".to_string()]);
        let none = query(&ctx, "SELECT min_by(v, k) AS x FROM t WHERE k > 100").await;
        assert_eq!(none, vec!["|   |".to_string()]);
        let err = ctx.sql("SELECT min_by(v, g) FROM t").await;
        assert!(err.is_err());
    }
}
