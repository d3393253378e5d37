//! Typed landing columns. Each landed entity declares once which fields models use,
//! where they sit in the platform's JSON and what type they are; records become Arrow
//! batches with those typed columns plus `_raw` (the original JSON), `_extracted_at`
//! and `_batch_id`. Fields not declared live on in `_raw`, so a new API field never
//! fails a run; a declared field whose JSON type changed is reported, never cast.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

pub use super::money::parse_money;

/// Scale of money columns: amounts are Decimal128(18, 2), never floats.
pub const MONEY_SCALE: i8 = 2;

/// How a JSON value becomes a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// JSON integer → Int64.
    Int,
    /// JSON integer, or a GraphQL global id `gid://shopify/Order/123`, or a string of
    /// digits (HubSpot ids) → Int64.
    Id,
    /// JSON string → Utf8.
    Text,
    /// JSON boolean → Boolean.
    Bool,
    /// Decimal in a JSON string ("598.94") → Decimal128(18,2).
    Money,
    /// Decimal as a JSON number (Shopify refund line items) → Decimal128(18,2).
    MoneyNumber,
    /// RFC 3339 string with offset → UTC timestamp (µs).
    Time,
    /// HubSpot-style epoch milliseconds in a string or number → UTC timestamp (µs).
    EpochMillis,
    /// Any JSON (object, array, scalar) kept as JSON text.
    Json,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Int | Kind::Id => DataType::Int64,
            Kind::Text | Kind::Json => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
            Kind::Money | Kind::MoneyNumber => DataType::Decimal128(18, MONEY_SCALE),
            Kind::Time | Kind::EpochMillis => utc(),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Int => "an integer",
            Kind::Id => "an integer id or gid string",
            Kind::Text => "a string",
            Kind::Bool => "a boolean",
            Kind::Money => "a decimal string",
            Kind::MoneyNumber => "a decimal number",
            Kind::Time => "an RFC 3339 timestamp string",
            Kind::EpochMillis => "epoch milliseconds",
            Kind::Json => "any JSON",
        }
    }
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// One typed column: its name, the JSON path it comes from, its kind.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name in the raw table.
    pub name: &'static str,
    /// Keys from the record root to the value.
    pub path: &'static [&'static str],
    /// Type conversion.
    pub kind: Kind,
}

/// Shorthand for declaring columns.
pub const fn col(name: &'static str, path: &'static [&'static str], kind: Kind) -> Column {
    Column { name, path, kind }
}

/// The landing contract of one entity.
#[derive(Debug, Clone, Copy)]
pub struct EntitySchema {
    /// Entity name (`orders`, `refund_line_items`, ...): the raw table's name.
    pub entity: &'static str,
    /// Column naming a record (used in drift messages and by staging dedupe).
    pub key: &'static str,
    /// Typed columns.
    pub columns: &'static [Column],
}

/// Columns every raw table ends with.
pub const RAW: &str = "_raw";
/// When the row was extracted.
pub const EXTRACTED_AT: &str = "_extracted_at";
/// Which landing batch wrote the row.
pub const BATCH_ID: &str = "_batch_id";

impl EntitySchema {
    /// The Arrow schema of the raw table.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), true))
            .collect();
        fields.push(Field::new(RAW, DataType::Utf8, false));
        fields.push(Field::new(EXTRACTED_AT, utc(), false));
        fields.push(Field::new(BATCH_ID, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

/// A declared field arrived with another JSON type than declared.
#[derive(Debug, thiserror::Error)]
#[error(
    "schema drift in {source_name}.{entity}: field {column} ({path}) of record {record} should be {expected} but is {found}; the run stopped and nothing of this batch was landed"
)]
pub struct DriftError {
    /// Source name.
    pub source_name: String,
    /// Entity.
    pub entity: String,
    /// Column.
    pub column: String,
    /// JSON path.
    pub path: String,
    /// Record key value.
    pub record: String,
    /// Declared type.
    pub expected: &'static str,
    /// What came.
    pub found: String,
}

enum Builder {
    Int(Int64Builder),
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Money(Decimal128Builder),
    Time(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(kind: Kind, capacity: usize) -> Builder {
        match kind {
            Kind::Int | Kind::Id => Builder::Int(Int64Builder::with_capacity(capacity)),
            Kind::Text | Kind::Json => {
                Builder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Money | Kind::MoneyNumber => {
                Builder::Money(Decimal128Builder::with_capacity(capacity))
            }
            Kind::Time | Kind::EpochMillis => {
                Builder::Time(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
        }
    }

    fn finish(self) -> Result<ArrayRef, arrow::error::ArrowError> {
        Ok(match self {
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Money(mut b) => {
                Arc::new(b.finish().with_precision_and_scale(18, MONEY_SCALE)?)
            }
            Builder::Time(mut b) => Arc::new(b.finish().with_timezone("UTC")),
        })
    }
}

fn lookup<'a>(record: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(record, |v, key| v.get(key))
}

fn json_type(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() > 40 => "a long string".into(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Microseconds since the epoch of an RFC 3339 timestamp. The form every platform
/// sends most (`2024-03-01T10:00:00Z`, or with `.000Z`) is read digit by digit;
/// anything else (offsets, other fractions) goes through chrono. A column of a
/// million orders has several timestamps per row, and chrono's general parser
/// was a visible share of a backfill.
pub fn parse_time_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let utc_seconds = match b.len() {
        20 => b[19] == b'Z',
        24 => b[19] == b'.' && &b[20..24] == b"000Z",
        _ => false,
    };
    let shape = utc_seconds
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    if shape {
        let num = |r: std::ops::Range<usize>| {
            b[r].iter().try_fold(0i64, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
            })
        };
        if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        ) && (1..=12).contains(&mo)
            && (1..=days_in_month(y, mo)).contains(&d)
            && h < 24
            && mi < 60
            && s < 60
        {
            let days = days_from_civil(y, mo, d);
            return Some(((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000);
        }
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The numeric id at the end of a GraphQL global id (`gid://shopify/Order/123`).
pub fn parse_gid(text: &str) -> Option<i64> {
    let tail = text.rsplit('/').next()?;
    // gid://shopify/Order/123?foo=bar carries query parameters on some types.
    tail.split('?').next()?.parse().ok()
}

fn convert(kind: Kind, v: &Value, b: &mut Builder) -> bool {
    match (kind, b) {
        (_, Builder::Int(b)) if v.is_null() => b.append_null(),
        (_, Builder::Text(b)) if v.is_null() => b.append_null(),
        (_, Builder::Bool(b)) if v.is_null() => b.append_null(),
        (_, Builder::Money(b)) if v.is_null() => b.append_null(),
        (_, Builder::Time(b)) if v.is_null() => b.append_null(),
        (Kind::Int, Builder::Int(b)) => match v.as_i64() {
            Some(n) => b.append_value(n),
            None => return false,
        },
        (Kind::Id, Builder::Int(b)) => match v {
            Value::Number(n) => match n.as_i64() {
                Some(n) => b.append_value(n),
                None => return false,
            },
            Value::String(s) => match s.parse::<i64>().ok().or_else(|| parse_gid(s)) {
                Some(n) => b.append_value(n),
                None => return false,
            },
            _ => return false,
        },
        (Kind::Text, Builder::Text(b)) => match v.as_str() {
            Some(s) => b.append_value(s),
            None => return false,
        },
        (Kind::Json, Builder::Text(b)) => b.append_value(v.to_string()),
        (Kind::Bool, Builder::Bool(b)) => match v.as_bool() {
            Some(x) => b.append_value(x),
            None => return false,
        },
        (Kind::Money, Builder::Money(b)) => match v.as_str().and_then(parse_money) {
            Some(units) => b.append_value(units),
            None => return false,
        },
        (Kind::MoneyNumber, Builder::Money(b)) => match v {
            // The number's own text, so 195.66 stays exactly 195.66.
            Value::Number(n) => match parse_money(&n.to_string()) {
                Some(units) => b.append_value(units),
                None => return false,
            },
            _ => return false,
        },
        (Kind::Time, Builder::Time(b)) => match v.as_str().and_then(parse_time_us) {
            Some(t) => b.append_value(t),
            None => return false,
        },
        (Kind::EpochMillis, Builder::Time(b)) => {
            let ms = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse::<i64>().ok().or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(s)
                        .ok()
                        .map(|t| t.timestamp_millis())
                }),
                _ => None,
            };
            match ms {
                Some(ms) => b.append_value(ms * 1000),
                None => return false,
            }
        }
        _ => return false,
    }
    true
}

/// Metadata stamped on every landed row.
#[derive(Debug, Clone)]
pub struct Stamp<'a> {
    /// Source name (for messages).
    pub source_name: &'a str,
    /// When the batch was extracted (µs since epoch, UTC).
    pub extracted_at_us: i64,
    /// The landing batch id.
    pub batch_id: &'a str,
}

/// Build the raw-table batch of `records` (one JSON object per row).
pub fn to_batch(
    schema: &EntitySchema,
    records: &[&Value],
    stamp: &Stamp<'_>,
) -> Result<RecordBatch, crate::extract::ExtractError> {
    let n = records.len();
    let mut builders: Vec<Builder> = schema
        .columns
        .iter()
        .map(|c| Builder::new(c.kind, n))
        .collect();
    let mut raw = StringBuilder::with_capacity(n, n * 512);
    for record in records {
        for (column, builder) in schema.columns.iter().zip(builders.iter_mut()) {
            let value = lookup(record, column.path).unwrap_or(&Value::Null);
            if !convert(column.kind, value, builder) {
                let key_col = schema.columns.iter().find(|c| c.name == schema.key);
                let record_key = key_col
                    .and_then(|c| lookup(record, c.path))
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "?".into());
                return Err(DriftError {
                    source_name: stamp.source_name.to_string(),
                    entity: schema.entity.to_string(),
                    column: column.name.to_string(),
                    path: column.path.join("."),
                    record: record_key,
                    expected: column.kind.expected(),
                    found: json_type(value),
                }
                .into());
            }
        }
        raw.append_value(record.to_string());
    }
    let mut arrays = builders
        .into_iter()
        .map(Builder::finish)
        .collect::<Result<Vec<_>, _>>()?;
    arrays.push(Arc::new(raw.finish()));
    stamped(schema, arrays, stamp)
}

/// The raw-table batch from `columns` (the typed columns and `_raw`, in schema order)
/// plus `_extracted_at` and `_batch_id` from `stamp`. Fails if the columns do not
/// match the entity's declaration.
pub fn stamped(
    schema: &EntitySchema,
    mut columns: Vec<ArrayRef>,
    stamp: &Stamp<'_>,
) -> Result<RecordBatch, crate::extract::ExtractError> {
    let n = columns.first().map_or(0, |c| c.len());
    let mut at = TimestampMicrosecondBuilder::with_capacity(n);
    let mut ids = StringBuilder::with_capacity(n, n * stamp.batch_id.len());
    for _ in 0..n {
        at.append_value(stamp.extracted_at_us);
        ids.append_value(stamp.batch_id);
    }
    columns.push(Arc::new(at.finish().with_timezone("UTC")));
    columns.push(Arc::new(ids.finish()));
    Ok(RecordBatch::try_new(schema.arrow_schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Decimal128Type, Int64Type, TimestampMicrosecondType};
    use serde_json::json;

    #[test]
    fn timestamps_read_fast_equal_chrono() {
        let chrono_us = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_micros())
        };
        // Every day of 1999–2001 and 2096–2104 (leap years and century rules), at
        // a few times each.
        for year in (1999..=2001).chain(2096..=2104) {
            for day in 0..366 {
                let date = chrono::NaiveDate::from_yo_opt(year, day + 1);
                let Some(date) = date else { continue };
                for (h, m, sec) in [(0, 0, 0), (9, 30, 5), (23, 59, 59)] {
                    let t = date.and_hms_opt(h, m, sec).unwrap().and_utc();
                    for text in [
                        t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                        t.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
                    ] {
                        assert_eq!(parse_time_us(&text), Some(t.timestamp_micros()), "{text}");
                    }
                }
            }
        }
        for text in [
            "2024-02-29T12:00:00Z",
            "2024-03-01T10:00:00+02:00",
            "2024-03-01T10:00:00.123456Z",
            "2024-03-01T10:00:00.5-05:30",
            "1969-12-31T23:59:59Z",
            "2016-12-31T23:59:60Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01 10:00:00Z",
            "2024-03-01T10:00:0xZ",
            "+024-03-01T10:00:00Z",
            "2024-03-01",
            "",
        ] {
            assert_eq!(parse_time_us(text), chrono_us(text), "{text}");
        }
    }

    const ORDERS: EntitySchema = EntitySchema {
        entity: "orders",
        key: "id",
        columns: &[
            col("id", &["id"], Kind::Id),
            col("total_price", &["total_price"], Kind::Money),
            col(
                "shop_total",
                &["total_price_set", "shop_money", "amount"],
                Kind::Money,
            ),
            col("subtotal", &["subtotal"], Kind::MoneyNumber),
            col("updated_at", &["updated_at"], Kind::Time),
            col("test", &["test"], Kind::Bool),
            col("tags", &["tags"], Kind::Text),
        ],
    };

    fn stamp() -> Stamp<'static> {
        Stamp {
            source_name: "shopify",
            extracted_at_us: 1,
            batch_id: "b1",
        }
    }

    #[test]
    fn typed_columns_and_raw_json() {
        let records = [
            json!({"id": 1, "total_price": "598.94", "total_price_set": {"shop_money": {"amount": "598.94"}},
                   "subtotal": 195.66, "updated_at": "2008-01-10T11:00:00-05:00", "test": false, "tags": "vip", "new_field": [1]}),
            json!({"id": "gid://shopify/Order/2", "total_price": "-5", "updated_at": null}),
        ];
        let refs: Vec<&Value> = records.iter().collect();
        let b = to_batch(&ORDERS, &refs, &stamp()).unwrap();
        assert_eq!(b.num_rows(), 2);
        let ids = b.column(0).as_primitive::<Int64Type>();
        assert_eq!((ids.value(0), ids.value(1)), (1, 2));
        let price = b.column(1).as_primitive::<Decimal128Type>();
        assert_eq!((price.value(0), price.value(1)), (59894, -500));
        assert_eq!(b.column(3).as_primitive::<Decimal128Type>().value(0), 19566);
        let ts = b.column(4).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), 1_199_980_800_000_000);
        assert!(ts.is_null(1));
        // The unknown field survives in _raw.
        assert!(
            b.column_by_name("_raw")
                .unwrap()
                .as_string::<i32>()
                .value(0)
                .contains("new_field")
        );
    }

    #[test]
    fn a_changed_type_is_reported_not_cast() {
        let records = [json!({"id": 7, "total_price": 598.94})];
        let err = to_batch(&ORDERS, &[&records[0]], &stamp())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shopify.orders")
                && err.contains("total_price")
                && err.contains("decimal string"),
            "{err}"
        );
        assert!(err.contains("record 7"), "{err}");
    }
}
