//! Canonical values and fingerprints. A model column is compared with what the
//! destination was last told through its canonical text (Arrow's own cast to UTF-8:
//! decimals keep their scale, dates are ISO) hashed with xxh3. Hashing typed values
//! rather than a JSON rendering keeps the fingerprint independent of key order and
//! float formatting quirks; a NULL hashes to a value no UTF-8 text can produce.

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use super::DiffError;

/// The hash of a NULL value: 0xFF never occurs in UTF-8, so no text hashes the same.
pub fn null_hash() -> u64 {
    xxh3_64(&[0xFF])
}

/// The fingerprint of one field value.
pub fn field_hash(value: Option<&str>) -> u64 {
    value.map_or_else(null_hash, |v| xxh3_64(v.as_bytes()))
}

/// The fingerprint of a whole row: its field names and value hashes, so that adding
/// or removing a mapped field changes it too.
pub fn row_hash(names: &[u64], hashes: &[u64]) -> u64 {
    let mut bytes = Vec::with_capacity(16 * hashes.len());
    for (n, h) in names.iter().zip(hashes) {
        bytes.extend_from_slice(&n.to_le_bytes());
        bytes.extend_from_slice(&h.to_le_bytes());
    }
    xxh3_64(&bytes)
}

/// The hash of a field name, an input to [`row_hash`].
pub fn name_hash(name: &str) -> u64 {
    xxh3_64(name.as_bytes())
}

/// The in-memory identity of a key: 128 bits, so 10M keys collide with negligible
/// probability (about 1e-25).
pub fn key_hash(key: &str) -> u128 {
    xxh3_128(key.as_bytes())
}

/// A column as canonical text.
pub fn text(column: &ArrayRef, name: &str) -> Result<StringArray, DiffError> {
    let cast = arrow::compute::cast(column, &DataType::Utf8).map_err(|e| {
        DiffError::Column(format!(
            "column {name} ({}) has no text form: {e}",
            column.data_type()
        ))
    })?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DiffError::Column(format!("column {name} did not cast to text")))
}

/// Field hashes as bytes (little-endian u64s), the snapshot's storage form.
pub fn pack(hashes: &[u64]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// The inverse of [`pack`]; a trailing partial word is ignored.
pub fn unpack(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Date32Array, Decimal128Array, Int64Array};

    use super::*;

    #[test]
    fn null_differs_from_every_text_including_empty_and_null_words() {
        assert_ne!(field_hash(None), field_hash(Some("")));
        assert_ne!(field_hash(None), field_hash(Some("null")));
        assert_eq!(field_hash(Some("a")), field_hash(Some("a")));
    }

    #[test]
    fn decimals_keep_their_scale_and_dates_are_iso() {
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(12340), None])
                .with_precision_and_scale(18, 2)
                .unwrap(),
        );
        let t = text(&d, "d").unwrap();
        assert_eq!(t.value(0), "123.40");
        assert!(t.is_null(1));
        let dt: ArrayRef = Arc::new(Date32Array::from(vec![19_723]));
        assert_eq!(text(&dt, "dt").unwrap().value(0), "2024-01-01");
        let n: ArrayRef = Arc::new(Int64Array::from(vec![7]));
        assert_eq!(text(&n, "n").unwrap().value(0), "7");
    }

    #[test]
    fn row_hash_depends_on_field_names_and_values() {
        let a = [name_hash("x"), name_hash("y")];
        let b = [name_hash("x"), name_hash("z")];
        let h = [field_hash(Some("1")), field_hash(None)];
        assert_ne!(row_hash(&a, &h), row_hash(&b, &h));
        let h2 = [field_hash(Some("1")), field_hash(Some("2"))];
        assert_ne!(row_hash(&a, &h), row_hash(&a, &h2));
        assert_eq!(unpack(&pack(&h2)), h2.to_vec());
    }
}
