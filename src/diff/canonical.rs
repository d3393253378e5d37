//! Canonical values and fingerprints. A model column is compared with what the
//! destination was last told through its canonical text (Arrow's own cast to UTF-8:
//! decimals keep their scale, dates are ISO) hashed with xxh3. Hashing typed values
//! rather than a JSON rendering keeps the fingerprint independent of key order and
//! float formatting quirks; a NULL hashes to a value no UTF-8 text can produce.

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use super::DiffError;
use crate::utc_text::UtcText;

/// The hash of a NULL value: 0xFF never occurs in UTF-8, so no text hashes the same.
pub fn null_hash() -> u64 {
    xxh3_64(&[0xFF])
}

/// The fingerprint of one field value.
pub fn field_hash(value: Option<&[u8]>) -> u64 {
    match value {
        Some(text) => xxh3_64(text),
        None => null_hash(),
    }
}

/// The fingerprint of a whole row: its field names and value hashes, so that adding
/// or removing a mapped field changes it too.
pub fn row_hash(names: &[u64], hashes: &[u64]) -> u64 {
    row_hash_with(names, hashes, &mut Vec::new())
}

/// [`row_hash`] with a caller-owned scratch buffer (one allocation per batch, not
/// per row).
pub fn row_hash_with(names: &[u64], hashes: &[u64], bytes: &mut Vec<u8>) -> u64 {
    bytes.clear();
    for (n, h) in names.iter().zip(hashes) {
        bytes.extend_from_slice(&n.to_le_bytes());
        bytes.extend_from_slice(&h.to_le_bytes());
    }
    xxh3_64(bytes)
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

/// [`key_hash`] of a key's canonical text as bytes.
pub fn key_hash_bytes(key: &[u8]) -> u128 {
    xxh3_128(key)
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

/// Visit the canonical text of every value of `column` (`None` for NULL), in row
/// order — the same bytes [`text`] would produce — without building a text column for the types
/// models use most: strings are read in place, and integers, booleans, decimals and
/// UTC timestamps are written into a reused buffer. Other types go through [`text`].
/// Fingerprinting every row of a large model is the diff's hot loop; only the few
/// rows that changed need their text kept.
pub fn for_each_text(
    column: &ArrayRef,
    name: &str,
    mut f: impl FnMut(usize, Option<&[u8]>),
) -> Result<(), DiffError> {
    use arrow::array::{
        Array, AsArray, BooleanArray, Decimal128Array, LargeStringArray, StringViewArray,
    };
    use arrow::datatypes::{
        Decimal128Type, DecimalType, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
        UInt8Type, UInt16Type, UInt32Type, UInt64Type,
    };
    macro_rules! ints {
        ($t:ty) => {{
            let a = column.as_primitive::<$t>();
            let mut buf = itoa::Buffer::new();
            for i in 0..a.len() {
                if a.is_null(i) {
                    f(i, None)
                } else {
                    f(i, Some(buf.format(a.value(i)).as_bytes()))
                }
            }
        }};
    }
    match column.data_type() {
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            for i in 0..a.len() {
                f(i, (!a.is_null(i)).then(|| a.value(i).as_bytes()));
            }
        }
        DataType::LargeUtf8 => {
            let a: &LargeStringArray = column.as_string::<i64>();
            for i in 0..a.len() {
                f(i, (!a.is_null(i)).then(|| a.value(i).as_bytes()));
            }
        }
        DataType::Utf8View => {
            let a: &StringViewArray = column.as_string_view();
            for i in 0..a.len() {
                f(i, (!a.is_null(i)).then(|| a.value(i).as_bytes()));
            }
        }
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::Boolean => {
            let a: &BooleanArray = column.as_boolean();
            for i in 0..a.len() {
                let text: &[u8] = if a.value(i) { b"true" } else { b"false" };
                f(i, (!a.is_null(i)).then_some(text));
            }
        }
        DataType::Decimal128(precision, scale) => {
            let a: &Decimal128Array = column.as_primitive::<Decimal128Type>();
            let mut buf = Vec::with_capacity(48);
            for i in 0..a.len() {
                if a.is_null(i) {
                    f(i, None);
                } else if decimal_text(a.value(i), *scale, &mut buf) {
                    f(i, Some(&buf));
                } else {
                    let text = Decimal128Type::format_decimal(a.value(i), *precision, *scale);
                    f(i, Some(text.as_bytes()));
                }
            }
        }
        DataType::Timestamp(unit, Some(tz)) if is_utc(tz) => {
            let (a, per_second) = match unit {
                TimeUnit::Second => (
                    column
                        .as_primitive::<arrow::datatypes::TimestampSecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1,
                ),
                TimeUnit::Millisecond => (
                    column
                        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1_000,
                ),
                TimeUnit::Microsecond => (
                    column
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1_000_000,
                ),
                TimeUnit::Nanosecond => (
                    column
                        .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1_000_000_000,
                ),
            };
            let mut stamp = UtcText::default();
            for i in 0..a.len() {
                if a.is_null(i) {
                    f(i, None);
                } else if let Some(text) = stamp.format(a.value(i), per_second) {
                    f(i, Some(text));
                } else {
                    // Outside years 0–9999: Arrow's own text, one value at a time
                    // (rare), so that values are still visited in order.
                    let texts = text(&column.slice(i, 1), name)?;
                    f(i, Some(texts.value(0).as_bytes()));
                }
            }
        }
        _ => {
            let texts = text(column, name)?;
            for i in 0..texts.len() {
                f(i, (!texts.is_null(i)).then(|| texts.value(i).as_bytes()));
            }
        }
    }
    Ok(())
}

/// `value` at `scale` as Arrow prints a decimal (`-0.05`, `123.40`, `7`), into a
/// reused buffer rather than a new string per value. False for a negative scale,
/// which the caller leaves to Arrow.
fn decimal_text(value: i128, scale: i8, buf: &mut Vec<u8>) -> bool {
    let Ok(scale) = usize::try_from(scale) else {
        return false;
    };
    let mut digits = itoa::Buffer::new();
    let text = digits.format(value.unsigned_abs()).as_bytes();
    buf.clear();
    if value < 0 {
        buf.push(b'-');
    }
    if scale == 0 {
        buf.extend_from_slice(text);
    } else if text.len() > scale {
        let (whole, fraction) = text.split_at(text.len() - scale);
        buf.extend_from_slice(whole);
        buf.push(b'.');
        buf.extend_from_slice(fraction);
    } else {
        buf.extend_from_slice(b"0.");
        buf.resize(buf.len() + scale - text.len(), b'0');
        buf.extend_from_slice(text);
    }
    true
}

fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "utc" | "+00:00" | "Z")
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
        assert_ne!(field_hash(None), field_hash(Some(b"")));
        assert_ne!(field_hash(None), field_hash(Some(b"null")));
        assert_eq!(field_hash(Some(b"a")), field_hash(Some(b"a")));
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
        let h = [field_hash(Some(b"1")), field_hash(None)];
        assert_ne!(row_hash(&a, &h), row_hash(&b, &h));
        let h2 = [field_hash(Some(b"1")), field_hash(Some(b"2"))];
        assert_ne!(row_hash(&a, &h), row_hash(&a, &h2));
        assert_eq!(unpack(&pack(&h2)), h2.to_vec());
    }

    /// The fast paths must produce exactly Arrow's text, or a model read with another
    /// type layout would look changed everywhere.
    #[test]
    fn fast_text_equals_arrows_text() {
        use arrow::array::{
            BooleanArray, Int32Array, StringViewArray, TimestampMicrosecondArray,
            TimestampNanosecondArray, TimestampSecondArray,
        };
        let mut micros: Vec<Option<i64>> = vec![
            None,
            Some(0),
            Some(-1),
            Some(1_500),
            Some(1_000_000),
            Some(-62_135_596_800_000_000),
            Some(253_402_300_799_999_999),
            Some(253_402_300_800_000_000),
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x % 8_000_000_000_000_000) as i64 - 2_000_000_000_000_000;
            micros.push(Some(match x % 4 {
                0 => v - v.rem_euclid(1_000_000),
                1 => v - v.rem_euclid(1_000),
                _ => v,
            }));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(micros.clone()).with_timezone("+00:00")),
            Arc::new(
                TimestampNanosecondArray::from(
                    micros
                        .iter()
                        .map(|m| m.map(|v| v.wrapping_mul(1000) + 7))
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(
                TimestampSecondArray::from(
                    micros
                        .iter()
                        .map(|m| m.map(|v| v / 1_000_000))
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(TimestampMicrosecondArray::from(micros.clone()).with_timezone("Europe/Paris")),
            Arc::new(Int64Array::from(micros.clone())),
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                None,
                Some(0),
                Some(-7),
                Some(i32::MAX),
            ])),
            Arc::new(
                Decimal128Array::from(vec![
                    Some(-5),
                    Some(12_340),
                    None,
                    Some(-123_456),
                    Some(0),
                    Some(-100),
                    Some(99),
                    Some(10_i128.pow(37)),
                    Some(-(10_i128.pow(38) - 1)),
                ])
                .with_precision_and_scale(38, 2)
                .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(-5), Some(0), Some(1_234_567), None])
                    .with_precision_and_scale(20, 0)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(-5), Some(0), Some(1_234_567), Some(-7_000_000)])
                    .with_precision_and_scale(20, 6)
                    .unwrap(),
            ),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(StringViewArray::from(vec![
                Some("a much longer string than twelve bytes"),
                None,
                Some(""),
            ])),
            Arc::new(StringArray::from(vec![Some("x"), None])),
        ];
        for c in &columns {
            let expected = text(c, "c").unwrap();
            let mut seen = 0;
            for_each_text(c, "c", |i, t| {
                seen += 1;
                let want = (!expected.is_null(i)).then(|| expected.value(i).as_bytes());
                assert_eq!(t, want, "{} row {i}", c.data_type());
            })
            .unwrap();
            assert_eq!(seen, c.len(), "{}", c.data_type());
        }
    }
}
