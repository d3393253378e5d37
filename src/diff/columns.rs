//! Reading snapshot columns where they lie. A scan may hand strings and bytes back as
//! view arrays (DataFusion's default) or as offset arrays (older tables, other
//! readers); casting ten million of them to one layout copies every value, which
//! cost the diff more than its own work. These accessors read either layout in place.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, Int64Array,
    LargeBinaryArray, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow::datatypes::DataType;

use super::DiffError;

fn get<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, DiffError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DiffError::Column(format!("snapshot column {name} is missing")))
}

fn unexpected(name: &str, column: &ArrayRef) -> DiffError {
    DiffError::Column(format!(
        "snapshot column {name} has an unexpected type {}",
        column.data_type()
    ))
}

/// A text column in any of Arrow's string layouts.
pub(super) enum Texts<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Texts<'a> {
    /// Column `name` of `batch`, which must hold text.
    pub fn of(batch: &'a RecordBatch, name: &str) -> Result<Texts<'a>, DiffError> {
        let c = get(batch, name)?;
        Ok(match c.data_type() {
            DataType::Utf8 => Texts::Utf8(c.as_string::<i32>()),
            DataType::LargeUtf8 => Texts::Large(c.as_string::<i64>()),
            DataType::Utf8View => Texts::View(c.as_string_view()),
            _ => return Err(unexpected(name, c)),
        })
    }

    /// The value at `i` (empty for NULL; check [`Texts::is_null`] where it matters).
    pub fn value(&self, i: usize) -> &'a str {
        match self {
            Texts::Utf8(a) => a.value(i),
            Texts::Large(a) => a.value(i),
            Texts::View(a) => a.value(i),
        }
    }

    /// Whether the value at `i` is NULL.
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Texts::Utf8(a) => a.is_null(i),
            Texts::Large(a) => a.is_null(i),
            Texts::View(a) => a.is_null(i),
        }
    }

    /// The value at `i`, `None` for NULL, owned.
    pub fn owned(&self, i: usize) -> Option<String> {
        (!self.is_null(i)).then(|| self.value(i).to_string())
    }
}

/// A binary column in any of Arrow's byte layouts.
pub(super) enum Bytes<'a> {
    Binary(&'a BinaryArray),
    Large(&'a LargeBinaryArray),
    View(&'a BinaryViewArray),
}

impl<'a> Bytes<'a> {
    /// Column `name` of `batch`, which must hold bytes.
    pub fn of(batch: &'a RecordBatch, name: &str) -> Result<Bytes<'a>, DiffError> {
        let c = get(batch, name)?;
        Ok(match c.data_type() {
            DataType::Binary => Bytes::Binary(c.as_binary::<i32>()),
            DataType::LargeBinary => Bytes::Large(c.as_binary::<i64>()),
            DataType::BinaryView => Bytes::View(c.as_binary_view()),
            _ => return Err(unexpected(name, c)),
        })
    }

    /// The value at `i`.
    pub fn value(&self, i: usize) -> &'a [u8] {
        match self {
            Bytes::Binary(a) => a.value(i),
            Bytes::Large(a) => a.value(i),
            Bytes::View(a) => a.value(i),
        }
    }
}

/// Column `name` of `batch` as 64-bit integers.
pub(super) fn int64<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, DiffError> {
    let c = get(batch, name)?;
    c.as_primitive_opt::<arrow::datatypes::Int64Type>()
        .ok_or_else(|| unexpected(name, c))
}

/// Column `name` of `batch` as booleans.
pub(super) fn boolean<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a BooleanArray, DiffError> {
    let c = get(batch, name)?;
    c.as_boolean_opt().ok_or_else(|| unexpected(name, c))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn every_layout_reads_the_same_values() {
        let values = [
            Some("a"),
            None,
            Some("a much longer value than twelve bytes"),
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(values.to_vec())),
            Arc::new(LargeStringArray::from(values.to_vec())),
            Arc::new(StringViewArray::from(values.to_vec())),
        ];
        for array in arrays {
            let schema = Schema::new(vec![Field::new("t", array.data_type().clone(), true)]);
            let batch = RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap();
            let t = Texts::of(&batch, "t").unwrap();
            let read: Vec<Option<String>> = (0..3).map(|i| t.owned(i)).collect();
            assert_eq!(read, values.map(|v| v.map(str::to_string)).to_vec());
        }
        let bytes: Vec<ArrayRef> = vec![
            Arc::new(BinaryArray::from(vec![b"xy".as_slice(), b""])),
            Arc::new(LargeBinaryArray::from(vec![b"xy".as_slice(), b""])),
            Arc::new(BinaryViewArray::from(vec![b"xy".as_slice(), b""])),
        ];
        for array in bytes {
            let schema = Schema::new(vec![Field::new("b", array.data_type().clone(), false)]);
            let batch = RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap();
            let b = Bytes::of(&batch, "b").unwrap();
            assert_eq!((b.value(0), b.value(1)), (b"xy".as_slice(), b"".as_slice()));
        }
    }

    #[test]
    fn a_wrong_type_is_a_clear_error() {
        let schema = Schema::new(vec![Field::new("t", DataType::Int64, false)]);
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int64Array::from(vec![1]))])
                .unwrap();
        let Err(e) = Texts::of(&batch, "t") else {
            panic!("an integer column read as text")
        };
        assert!(e.to_string().contains("snapshot column t"), "{e}");
        assert!(int64(&batch, "missing").is_err());
    }
}
