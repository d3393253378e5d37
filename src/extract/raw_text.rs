//! The `_raw` column of a landed batch: each record's original JSON, by far the
//! largest column (a month of a large store is hundreds of MB of it). Its bytes are
//! written into a buffer from a process-wide [`BytePool`] and go back there when
//! the landed batch has been written and dropped, so the next window reuses pages
//! that are already mapped instead of faulting in fresh ones.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, StringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

use crate::buffers::BytePool;

/// Free `_raw` buffers kept: the seven raw tables of a Shopify orders export, for
/// the window being parsed and the one being written, with room to spare.
const KEPT: usize = 16;

static POOL: LazyLock<Arc<BytePool>> = LazyLock::new(|| BytePool::new(KEPT));

/// One batch's `_raw` text was about to pass the 2 GiB an Arrow string column
/// (32-bit offsets) can hold.
#[derive(Debug, thiserror::Error)]
#[error("the raw JSON of one batch passed 2 GiB ({rows} records)")]
pub struct RawOverflow {
    /// Records appended before the one that did not fit.
    pub rows: usize,
}

/// Most bytes a column holds: what 32-bit offsets address.
const LIMIT: usize = i32::MAX as usize;

/// A `_raw` column being filled.
pub struct RawText {
    values: Vec<u8>,
    /// Starts with 0; one more entry per value.
    offsets: Vec<i32>,
    /// [`LIMIT`], lower in tests.
    limit: usize,
}

impl Default for RawText {
    fn default() -> Self {
        RawText {
            values: Vec::new(),
            offsets: vec![0],
            limit: LIMIT,
        }
    }
}

impl RawText {
    /// Room for `rows` values of `bytes` in all, the bytes from the pool.
    pub fn with_capacity(rows: usize, bytes: usize) -> RawText {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        RawText {
            values: POOL.take(bytes),
            offsets,
            limit: LIMIT,
        }
    }

    /// Append one record's JSON.
    pub fn append(&mut self, text: &str) -> Result<(), RawOverflow> {
        let end = self.values.len() + text.len();
        let offset = i32::try_from(end)
            .ok()
            .filter(|_| end <= self.limit)
            .ok_or(RawOverflow { rows: self.len() })?;
        self.values.extend_from_slice(text.as_bytes());
        self.offsets.push(offset);
        Ok(())
    }

    /// Values appended.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes appended.
    pub fn bytes(&self) -> usize {
        self.values.len()
    }

    /// The finished column (no nulls); its bytes return to the pool when the
    /// column's last user drops it.
    pub fn finish(mut self) -> ArrayRef {
        let values = Buffer::from(POOL.freeze(std::mem::take(&mut self.values)));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::take(&mut self.offsets)));
        // SAFETY: every value was appended whole from a `&str` (valid UTF-8), and
        // `offsets` records where each one ends, so each slice between consecutive
        // offsets is valid UTF-8 and within `values`. Checking again would read the
        // whole column once more.
        Arc::new(unsafe { StringArray::new_unchecked(offsets, values, None) })
    }
}

impl Drop for RawText {
    /// A column never finished (a failed or retried download) returns its buffer.
    fn drop(&mut self) {
        POOL.give(std::mem::take(&mut self.values));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn finished_text_reads_back_value_by_value() {
        let mut raw = RawText::with_capacity(2, 64);
        raw.append(r#"{"id":1,"name":"Zoë"}"#).unwrap();
        raw.append("").unwrap();
        raw.append(r#"{"id":3}"#).unwrap();
        assert_eq!((raw.len(), raw.bytes()), (3, 30));
        let array = raw.finish();
        let text = array.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(text.null_count(), 0);
        let values: Vec<&str> = text.iter().map(|v| v.unwrap()).collect();
        assert_eq!(values, [r#"{"id":1,"name":"Zoë"}"#, "", r#"{"id":3}"#]);
        // Arrow's own checks agree the array is well formed.
        text.to_data().validate_full().unwrap();
    }

    #[test]
    fn a_value_past_the_limit_is_refused_and_the_column_keeps_what_fit() {
        let mut raw = RawText::default();
        raw.limit = 10;
        raw.append("12345").unwrap();
        raw.append("67890").unwrap();
        let err = raw.append("x").unwrap_err();
        assert_eq!(err.rows, 2);
        assert!(err.to_string().contains("2 GiB"), "{err}");
        let array = raw.finish();
        assert_eq!(array.len(), 2);
        array.to_data().validate_full().unwrap();
    }

    #[test]
    fn an_empty_column_finishes_empty() {
        let array = RawText::default().finish();
        assert_eq!(array.len(), 0);
        array.to_data().validate_full().unwrap();
    }
}
