//! How a table's data files are encoded: delta-rs' defaults (Snappy), with the
//! Parquet dictionary left off where it cannot pay.
//!
//! A dictionary helps columns that repeat a few values (currencies, statuses,
//! SKUs). For a column of mostly distinct values (ids, timestamps, order names,
//! emails) it costs a hash-table insert per value and stores every value once more
//! in the dictionary page: a twentieth of a bulk backfill's CPU time, a tenth of a
//! model build's. Which columns are which is read from the data: the first rows
//! of the write are sampled.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, SortField};
use parquet::basic::Compression;
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
        } else if sample.is_some_and(|b| i < b.num_columns() && mostly_distinct(b.column(i))) {
            builder = builder.set_column_dictionary_enabled(path, false);
        }
    }
    builder.build()
}

/// Whether the column's first rows are mostly distinct values (nulls count as one
/// value). Nested columns have leaf paths of their own and keep the default.
fn mostly_distinct(column: &ArrayRef) -> bool {
    let flat = column.data_type().is_primitive()
        || matches!(
            column.data_type(),
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        );
    let sample = column.slice(0, column.len().min(SAMPLE_ROWS));
    if !flat || sample.len() < MIN_SAMPLE {
        return false;
    }
    // The row format gives every type one comparable byte form to count.
    let Ok(converter) = RowConverter::new(vec![SortField::new(sample.data_type().clone())]) else {
        return false;
    };
    let Ok(rows) = converter.convert_columns(std::slice::from_ref(&sample)) else {
        return false;
    };
    // Every column of every write is sampled: a fast hash (no untrusted keys here).
    let distinct: foldhash::HashSet<&[u8]> = rows.iter().map(|r| r.data()).collect();
    distinct.len() as f64 > DISTINCT_SHARE * sample.len() as f64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn dictionary(props: &WriterProperties, column: &str) -> bool {
        props.dictionary_enabled(&ColumnPath::from(column))
    }

    #[test]
    fn distinct_columns_and_raw_are_plain_repetitive_ones_keep_the_dictionary() {
        let n = 1_000;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("currency", DataType::Utf8, true),
            Field::new("email", DataType::Utf8, true),
            Field::new("_raw", DataType::Utf8, false),
            Field::new("tiny", DataType::Int64, true),
        ]));
        let ids: Vec<i64> = (0..n).collect();
        let currencies: Vec<&str> = (0..n)
            .map(|i| ["EUR", "USD", "GBP"][i as usize % 3])
            .collect();
        let emails: Vec<String> = (0..n).map(|i| format!("p{}@example.com", i / 2)).collect();
        let raws: Vec<String> = (0..n).map(|_| "{}".to_string()).collect();
        // Mostly null: too few values to judge.
        let tiny: Vec<Option<i64>> = (0..n).map(|i| (i < 100).then_some(i)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(currencies)),
                Arc::new(StringArray::from(emails)),
                Arc::new(StringArray::from(raws)),
                Arc::new(Int64Array::from(tiny)),
            ],
        )
        .unwrap();

        let props = writer_properties(&schema, Some(&batch));
        assert!(!dictionary(&props, "id"));
        assert!(dictionary(&props, "currency"));
        // Half distinct is not "mostly".
        assert!(dictionary(&props, "email"));
        assert!(!dictionary(&props, "_raw"), "_raw is always plain");
        assert!(dictionary(&props, "tiny"));
        assert_eq!(
            props.statistics_enabled(&ColumnPath::from("_raw")),
            EnabledStatistics::None
        );

        let rewrite = writer_properties(&schema, None);
        assert!(
            dictionary(&rewrite, "id"),
            "without a sample only _raw is special"
        );
        assert!(!dictionary(&rewrite, "_raw"));
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
