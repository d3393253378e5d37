//! How a table's data files are encoded: delta-rs' defaults (Snappy), with the
//! Parquet dictionary left off where it cannot pay.
//!
//! A dictionary helps columns that repeat a few values (currencies, statuses,
//! SKUs). For a column of mostly distinct values (ids, timestamps, order names,
//! emails) it costs a hash-table insert per value and stores every value once more
//! in the dictionary page: a twentieth of a bulk backfill's CPU time, a tenth of a
//! model build's. Which columns are which is read from the data: the first rows
//! of the write are sampled.
//!
//! Integer-backed columns (ids, timestamps, dates, amounts as decimals of up to 18
//! digits) that repeat less than a few values are written DELTA_BINARY_PACKED
//! instead: each page stores the differences between neighbouring values in as
//! few bits as they need. That costs a subtraction and a bit-pack per value where a
//! dictionary costs a hash-table probe (the writer's hash table was ~6% of a 10M-order
//! model build, over the amounts of `orders_fx`), and the pages are smaller than
//! plain ones, so there is less for Snappy to do. Every current Parquet reader
//! (arrow, DuckDB, Polars, Spark 3.3+, Trino) reads the encoding.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, SortField};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// Columns that hold whole source records as text (the extractors' `_raw`): every
/// value is distinct and long, so a dictionary never pays and min/max statistics
/// only cost comparisons of kilobyte strings; both are off for them.
const OPAQUE_COLUMNS: &[&str] = &["_raw"];

/// Rows of a write sampled per column.
const SAMPLE_ROWS: usize = 4096;

/// A write smaller than this says too little (and costs little); it keeps the
/// dictionary.
const MIN_SAMPLE: usize = 256;

/// Share of distinct values in the sample above which a column is written plain.
const DISTINCT_SHARE: f64 = 0.5;

/// Share of distinct values in the sample above which an integer-backed column is
/// written DELTA_BINARY_PACKED (at most 256 distinct in a full sample keep the
/// dictionary: statuses, dates of a short window, a few prices).
const INTEGER_DICTIONARY_SHARE: f64 = 1.0 / 16.0;

/// Rows handed to each column's encoder at a time, and the page size, for tables
/// with an opaque column. A page is encoded into a buffer grown from empty, copied
/// once more with its levels and compressed into another: with Parquet's defaults
/// (1024 rows, 1 MiB) a page of kilobyte `_raw` records grew to 1–3 MiB, and every
/// one of those copies ran out of the core's cache. Pages of a few hundred KiB stay
/// in it; Snappy compresses in 64 KiB blocks, so the files are no larger.
const OPAQUE_WRITE_BATCH: usize = 256;
const OPAQUE_PAGE_BYTES: usize = 256 * 1024;

/// Parquet settings for a write whose first batch is `sample`: raw-table appends
/// and model builds alike (`None`: rewriting existing files, as compaction does;
/// only [`OPAQUE_COLUMNS`] are special then).
pub(super) fn writer_properties(
    schema: &SchemaRef,
    sample: Option<&RecordBatch>,
) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_created_by(format!("lockstep {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY);
    if schema
        .fields()
        .iter()
        .any(|f| OPAQUE_COLUMNS.contains(&f.name().as_str()))
    {
        builder = builder
            .set_write_batch_size(OPAQUE_WRITE_BATCH)
            .set_data_page_size_limit(OPAQUE_PAGE_BYTES);
    }
    for (i, field) in schema.fields().iter().enumerate() {
        let path = ColumnPath::from(field.name().as_str());
        if OPAQUE_COLUMNS.contains(&field.name().as_str()) {
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path, EnabledStatistics::None);
        } else if let Some(sampled) = sample
            .filter(|b| i < b.num_columns())
            .and_then(|b| Sampled::of(b.column(i)))
        {
            if integer_backed(field.data_type())
                && sampled.distinct_share > INTEGER_DICTIONARY_SHARE
            {
                builder = builder
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            } else if sampled.distinct_share > DISTINCT_SHARE {
                builder = builder.set_column_dictionary_enabled(path.clone(), false);
                if byte_like(field.data_type()) && !sampled.ordered {
                    builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
                }
            }
        }
    }
    builder.build()
}

/// Whether Parquet stores the type as INT32 or INT64, the physical types
/// DELTA_BINARY_PACKED encodes (decimals of up to 18 digits are stored so).
fn integer_backed(data_type: &DataType) -> bool {
    match data_type {
        DataType::Decimal128(precision, _) | DataType::Decimal256(precision, _) => *precision <= 18,
        other => {
            other.is_integer()
                || matches!(
                    other,
                    DataType::Date32
                        | DataType::Date64
                        | DataType::Timestamp(..)
                        | DataType::Time32(_)
                        | DataType::Time64(_)
                        | DataType::Duration(_)
                )
        }
    }
}

/// Whether values are compared as bytes (a memcmp each) when Parquet keeps their
/// min/max statistics.
fn byte_like(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

/// What a column's first rows say about it.
struct Sampled {
    /// The share of distinct values (nulls count as one value).
    distinct_share: f64,
    /// Whether the rows are in order, ascending or descending (nulls first): only
    /// then can per-file and per-page bounds let a reader skip anything.
    ordered: bool,
}

impl Sampled {
    /// None when the rows say too little or the column is nested (nested columns
    /// have leaf paths of their own and keep the default).
    fn of(column: &ArrayRef) -> Option<Sampled> {
        let flat = column.data_type().is_primitive() || byte_like(column.data_type());
        let sample = column.slice(0, column.len().min(SAMPLE_ROWS));
        if !flat || sample.len() < MIN_SAMPLE {
            return None;
        }
        // The row format gives every type one comparable byte form to count and order.
        let converter = RowConverter::new(vec![SortField::new(sample.data_type().clone())]).ok()?;
        let rows = converter
            .convert_columns(std::slice::from_ref(&sample))
            .ok()?;
        // Every column of every write is sampled: a fast hash (no untrusted keys here).
        let distinct: foldhash::HashSet<&[u8]> = rows.iter().map(|r| r.data()).collect();
        let ascending = rows.iter().is_sorted();
        let descending = rows.iter().is_sorted_by(|a, b| a >= b);
        Some(Sampled {
            distinct_share: distinct.len() as f64 / sample.len() as f64,
            ordered: ascending || descending,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Decimal128Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn dictionary(props: &WriterProperties, column: &str) -> bool {
        props.dictionary_enabled(&ColumnPath::from(column))
    }

    fn encoding(props: &WriterProperties, column: &str) -> Option<Encoding> {
        props.encoding(&ColumnPath::from(column))
    }

    #[test]
    fn distinct_columns_are_plain_or_delta_packed_repetitive_ones_keep_the_dictionary() {
        let n = 1_000;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("currency", DataType::Utf8, true),
            Field::new("email", DataType::Utf8, true),
            Field::new("_raw", DataType::Utf8, false),
            Field::new("tiny", DataType::Int64, true),
            Field::new("amount", DataType::Decimal128(18, 2), true),
            Field::new("status", DataType::Int32, true),
            Field::new("golden_id", DataType::Utf8, false),
            Field::new("event_time", DataType::Utf8View, false),
        ]));
        let ids: Vec<i64> = (0..n).collect();
        // Distinct and scattered, like hashes; the second distinct and descending.
        let golden: Vec<String> = (0..n)
            .map(|i| format!("g{:08}", (i * 7_919) % 1_009))
            .collect();
        let times: Vec<String> = (0..n)
            .map(|i| format!("2026-01-01T00:{:04}Z", n - i))
            .collect();
        let currencies: Vec<&str> = (0..n)
            .map(|i| ["EUR", "USD", "GBP"][i as usize % 3])
            .collect();
        let emails: Vec<String> = (0..n).map(|i| format!("p{}@example.com", i / 2)).collect();
        let raws: Vec<String> = (0..n).map(|_| "{}".to_string()).collect();
        // Mostly null.
        let tiny: Vec<Option<i64>> = (0..n).map(|i| (i < 100).then_some(i)).collect();
        // A third distinct: repeats, but too many values for a dictionary to pay.
        let amounts =
            Decimal128Array::from((0..n).map(|i| i128::from(i % 333) * 25).collect::<Vec<_>>())
                .with_precision_and_scale(18, 2)
                .unwrap();
        let statuses: Vec<i32> = (0..n).map(|i| (i % 4) as i32).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(currencies)),
                Arc::new(StringArray::from(emails)),
                Arc::new(StringArray::from(raws)),
                Arc::new(Int64Array::from(tiny)),
                Arc::new(amounts),
                Arc::new(Int32Array::from(statuses)),
                Arc::new(StringArray::from(golden)),
                Arc::new(arrow::array::StringViewArray::from(times)),
            ],
        )
        .unwrap();

        let props = writer_properties(&schema, Some(&batch));
        assert!(!dictionary(&props, "id"));
        assert_eq!(encoding(&props, "id"), Some(Encoding::DELTA_BINARY_PACKED));
        assert!(!dictionary(&props, "amount"));
        assert_eq!(
            encoding(&props, "amount"),
            Some(Encoding::DELTA_BINARY_PACKED)
        );
        assert!(
            dictionary(&props, "status"),
            "four values keep the dictionary"
        );
        assert!(dictionary(&props, "currency"));
        assert_eq!(encoding(&props, "currency"), None);
        // Half distinct is not "mostly".
        assert!(dictionary(&props, "email"));
        assert!(!dictionary(&props, "_raw"), "_raw is always plain");
        // Nulls count as one value: 101 distinct in 1,000 rows is over a sixteenth.
        assert!(!dictionary(&props, "tiny"));
        assert_eq!(
            encoding(&props, "tiny"),
            Some(Encoding::DELTA_BINARY_PACKED)
        );
        assert_eq!(
            props.statistics_enabled(&ColumnPath::from("_raw")),
            EnabledStatistics::None
        );
        let stats = |column: &str| props.statistics_enabled(&ColumnPath::from(column));
        // Distinct, unordered text: no bounds; distinct in order: bounds kept.
        assert_eq!(stats("golden_id"), EnabledStatistics::None);
        assert_eq!(stats("event_time"), EnabledStatistics::Page);
        // Repetitive text and distinct integers keep them.
        assert_eq!(stats("currency"), EnabledStatistics::Page);
        assert_eq!(stats("email"), EnabledStatistics::Page);
        assert_eq!(stats("id"), EnabledStatistics::Page);

        let rewrite = writer_properties(&schema, None);
        assert!(
            dictionary(&rewrite, "id"),
            "without a sample only _raw is special"
        );
        assert!(!dictionary(&rewrite, "_raw"));
    }

    #[test]
    fn written_files_use_the_chosen_encodings_and_read_back_the_same() {
        let n = 5_000_i64;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(18, 2), true),
            Field::new("status", DataType::Int32, false),
        ]));
        let amounts = Decimal128Array::from(
            (0..n)
                .map(|i| (i % 7 != 0).then_some(i128::from(i * 37 % 1_999)))
                .collect::<Vec<_>>(),
        )
        .with_precision_and_scale(18, 2)
        .unwrap();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(
                    (0..n).map(|i| 1_000_000 + i * 3).collect::<Vec<_>>(),
                )),
                Arc::new(amounts),
                Arc::new(Int32Array::from(
                    (0..n).map(|i| (i % 3) as i32).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        let props = writer_properties(&schema, Some(&batch));
        let mut file = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut file, schema.clone(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let bytes = bytes::Bytes::from(file);
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let encodings = |i: usize| {
            reader
                .metadata()
                .row_group(0)
                .column(i)
                .encodings()
                .collect::<Vec<_>>()
        };
        assert!(
            encodings(0).contains(&Encoding::DELTA_BINARY_PACKED),
            "{:?}",
            encodings(0)
        );
        assert!(
            encodings(1).contains(&Encoding::DELTA_BINARY_PACKED),
            "{:?}",
            encodings(1)
        );
        assert!(
            encodings(2).contains(&Encoding::RLE_DICTIONARY),
            "{:?}",
            encodings(2)
        );
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let read = arrow::compute::concat_batches(&schema, &read).unwrap();
        assert_eq!(read, batch);
    }

    #[test]
    fn tables_with_raw_records_write_small_pages_others_keep_the_defaults() {
        let raw = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("_raw", DataType::Utf8, false),
        ]));
        let props = writer_properties(&raw, None);
        assert_eq!(props.write_batch_size(), OPAQUE_WRITE_BATCH);
        assert_eq!(props.data_page_size_limit(), OPAQUE_PAGE_BYTES);

        let model = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let defaults = WriterProperties::builder().build();
        let props = writer_properties(&model, None);
        assert_eq!(props.write_batch_size(), defaults.write_batch_size());
        assert_eq!(
            props.data_page_size_limit(),
            defaults.data_page_size_limit()
        );
    }
}
