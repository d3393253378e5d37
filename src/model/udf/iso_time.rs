//! `utc_iso8601(timestamp)`: the instant as ISO 8601 text in UTC, to the second:
//! `2026-01-31T12:00:00Z` (fractions of a second are dropped, as `date_trunc`
//! would). What CRM APIs take as an event time (Klaviyo's `time`).
//!
//! Why it exists: `CAST(ts AS VARCHAR)` formats through chrono and, for a zoned
//! timestamp, the time-zone library, value by value (~110 ns a row, a second of
//! `klaviyo_order_events` at 10M orders); `utc_text` writes the civil date of a
//! day count with a few integer operations (~50 ns a row with the builder's
//! copies). Years outside 0000–9999, which ISO 8601's four-digit form cannot
//! hold, are formatted by chrono with a sign.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::utc_text::UtcText;

/// The `utc_iso8601` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UtcIso8601 {
    signature: Signature,
}

impl UtcIso8601 {
    /// The function.
    pub fn new() -> Self {
        UtcIso8601 {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for UtcIso8601 {
    fn default() -> Self {
        Self::new()
    }
}

/// Units per second of a timestamp unit.
fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// `seconds` since the epoch as `YYYY-MM-DDTHH:MM:SSZ`: written by `stamp` for
/// years 0000–9999, by chrono (with a signed year) into `spill` outside them.
fn write_iso<'a>(seconds: i64, stamp: &'a mut UtcText, spill: &'a mut String) -> &'a str {
    if let Some(text) = stamp.format(seconds, 1) {
        // Only ASCII digits and separators were written.
        return std::str::from_utf8(text).unwrap_or_default();
    }
    spill.clear();
    if let Some(t) = chrono::DateTime::from_timestamp(seconds, 0) {
        let _ = write!(spill, "{}", t.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    spill
}

impl ScalarUDFImpl for UtcIso8601 {
    fn name(&self) -> &str {
        "utc_iso8601"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Timestamp(..)] => Ok(DataType::Utf8),
            other => Err(DataFusionError::Plan(format!(
                "utc_iso8601(timestamp): takes one timestamp, not {other:?}"
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array: ArrayRef = match args.args.first() {
            Some(arg) => arg.to_array(args.number_rows)?,
            None => {
                return Err(DataFusionError::Plan(
                    "utc_iso8601: missing argument".into(),
                ));
            }
        };
        let DataType::Timestamp(unit, _) = array.data_type() else {
            return Err(DataFusionError::Plan(format!(
                "utc_iso8601(timestamp): not a timestamp: {}",
                array.data_type()
            )));
        };
        let per_second = per_second(*unit);
        // Every timestamp type is an i64 count of its unit since the epoch, in UTC
        // whatever its zone.
        let raw = arrow::compute::cast(&array, &DataType::Int64)?;
        let values = raw.as_primitive::<Int64Type>();
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 20);
        let mut stamp = UtcText::default();
        let mut spill = String::new();
        for value in values.iter() {
            match value {
                Some(v) => {
                    out.append_value(write_iso(v.div_euclid(per_second), &mut stamp, &mut spill))
                }
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{StringArray, TimestampMicrosecondArray};
    use chrono::{DateTime, Utc};

    use super::*;

    /// Seconds in a day.
    const DAY: i64 = 86_400;

    fn iso(seconds: i64) -> String {
        write_iso(seconds, &mut UtcText::default(), &mut String::new()).to_string()
    }

    #[test]
    fn matches_chrono_across_leap_years_centuries_and_before_the_epoch() {
        // Every day from 1600 to 2400 at a time of day that moves, and a few
        // instants before the epoch with seconds left over.
        let start = -11_676_096_000_i64; // 1600-01-01
        for day in 0..(800 * 366) {
            let seconds = start + day * DAY + (day * 7_919) % DAY;
            let expected = DateTime::<Utc>::from_timestamp(seconds, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(iso(seconds), expected, "{seconds}");
        }
        assert_eq!(iso(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso(253_402_300_800), "+10000-01-01T00:00:00Z");
    }

    #[tokio::test]
    async fn formats_a_column_like_the_cast_of_a_utc_timestamp_cut_to_the_second() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(UtcIso8601::new()));
        let ts = TimestampMicrosecondArray::from(vec![
            Some(1_769_860_800_123_456),
            None,
            Some(-1),
            Some(0),
        ])
        .with_timezone("UTC");
        let batch =
            arrow::array::RecordBatch::try_from_iter(vec![("ts", Arc::new(ts) as ArrayRef)])
                .unwrap();
        ctx.register_batch("t", batch).unwrap();
        let batches = ctx
            .sql(
                "SELECT utc_iso8601(ts) AS ours, CAST(date_trunc('second', ts) AS VARCHAR) AS cast \
                 FROM t",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let column = |i: usize| -> Vec<Option<String>> {
            let array = arrow::compute::cast(batches[0].column(i), &DataType::Utf8).unwrap();
            let strings = array.as_any().downcast_ref::<StringArray>().unwrap();
            strings.iter().map(|s| s.map(String::from)).collect()
        };
        assert_eq!(
            column(0),
            vec![
                Some("2026-01-31T12:00:00Z".to_string()),
                None,
                Some("1969-12-31T23:59:59Z".to_string()),
                Some("1970-01-01T00:00:00Z".to_string()),
            ]
        );
        assert_eq!(column(0), column(1), "same text as the cast it replaces");
        let err = ctx.sql("SELECT utc_iso8601(1)").await;
        assert!(err.is_err(), "an integer is no timestamp");
    }
}
