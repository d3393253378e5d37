//! Compacting the rows of a view a run holds in memory (see
//! `session::define_computed_view`), and the values `min_by` keeps while it
//! aggregates. A string view points into the buffers of the text it was made
//! from: models read Parquet text as plain strings (`session::open`), but SQL
//! still makes views (`VARCHAR` is a view type, and so is what most string
//! functions return), and a `take` or slice of views keeps every buffer of its
//! source alive, whole, for the rest of the run. Copying the referenced text
//! into buffers of its own frees them: at 10M orders, when Parquet text still
//! arrived as views, the held `stg_shop_orders`' email column pinned 1.44 GB of
//! pages for ~0.25 GB of text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::buffer::Buffer;
use arrow::datatypes::{BinaryViewType, ByteViewType, DataType, StringViewType};
use arrow::error::ArrowError;

/// A view column is copied when its buffers hold more than this many times the
/// bytes its rows use; tighter ones are kept as they are (copying them frees
/// little).
const SLACK: usize = 2;

/// `batch` with each string-view and binary-view column whose buffers hold much
/// more than its rows use compacted (its text copied into buffers holding only
/// those bytes); other columns are shared as they are.
pub(super) fn compact(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns: Vec<ArrayRef> = batch.columns().iter().map(compact_column).collect();
    // The row count is carried over: a view whose readers only count its rows is
    // held without any column.
    let rows = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(batch.schema(), columns, &rows)
}

/// `column` compacted when it is a string-view or binary-view column whose
/// buffers hold much more than its rows use (a slice, or a `take` of a few rows
/// of a large batch, still points into the whole batch's buffers); else itself.
/// Also what `min_by` keeps of each batch's winning values.
pub(super) fn compact_column(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Utf8View => compact_view::<StringViewType>(column),
        DataType::BinaryView => compact_view::<BinaryViewType>(column),
        _ => Arc::clone(column),
    }
}

/// The view column `column` compacted when its buffers are loose, else itself.
fn compact_view<T: ByteViewType>(column: &ArrayRef) -> ArrayRef {
    let array = column.as_byte_view::<T>();
    if loose(array.data_buffers(), array.total_buffer_bytes_used()) {
        Arc::new(array.gc())
    } else {
        Arc::clone(column)
    }
}

/// Whether `buffers` hold over [`SLACK`] times the `used` bytes.
fn loose(buffers: &[Buffer], used: usize) -> bool {
    let held: usize = buffers.iter().map(Buffer::capacity).sum();
    held > used.saturating_mul(SLACK)
}

/// Bytes of the buffers `array` keeps alive, each counted once (slices of one
/// buffer share it).
#[cfg(test)]
fn retained_bytes(array: &dyn Array) -> usize {
    let data = array.to_data();
    let mut seen = std::collections::HashSet::new();
    data.buffers()
        .iter()
        .filter(|b| seen.insert(b.data_ptr()))
        .map(|b| b.capacity())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringViewArray};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn a_slice_of_long_strings_keeps_its_values_and_drops_the_rest_of_the_buffer() {
        let long: Vec<Option<String>> = (0..10_000)
            .map(|i| (i % 7 != 0).then(|| format!("customer-{i:06}@example.com")))
            .collect();
        let all = StringViewArray::from_iter(long.iter().map(|s| s.as_deref()));
        let slice = all.slice(100, 50);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("email", DataType::Utf8View, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..50)),
                Arc::new(slice.clone()),
            ],
        )
        .unwrap();
        let compacted = compact(&batch).unwrap();
        assert_eq!(compacted.schema(), batch.schema());
        // Same rows, nulls included.
        assert_eq!(compacted.column(1).as_string_view(), &slice);
        assert_eq!(compacted.column(1).null_count(), slice.null_count());
        // The 50 rows' text (~26 bytes each) instead of the 10,000 rows' buffer.
        let before = retained_bytes(batch.column(1).as_ref());
        let after = retained_bytes(compacted.column(1).as_ref());
        assert!(before > 200_000, "{before}");
        assert!(after < 4_000, "{after}");
        // Columns that are not views are shared, not copied.
        assert!(Arc::ptr_eq(compacted.column(0), batch.column(0)));
        // A compacted column is tight: compacting again shares it.
        let again = compact(&compacted).unwrap();
        assert!(Arc::ptr_eq(again.column(1), compacted.column(1)));
    }

    #[test]
    fn a_batch_without_views_is_returned_as_is() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..10))])
                .unwrap();
        let same = compact(&batch).unwrap();
        assert!(Arc::ptr_eq(same.column(0), batch.column(0)));
    }
}
