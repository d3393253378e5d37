//! Seeds: CSV files in `<models>/seeds/` landed as `raw_seeds.<file stem>` before
//! models build (like `dbt seed`), all columns text — models cast them. A file in the
//! ECB reference-rate format (`Date,<ISO currency>,...`, wide, `N/A` for no rate) is
//! landed in long form `(rate_date, currency, rate)`. A seed is rewritten only when
//! its content changed: the content hash is recorded as a mark in the table's log.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::{ModelError, Result};
use crate::warehouse::{TableName, Warehouse};

/// Mark holding the content hash of the landed seed.
const HASH_MARK: &str = "lockstep.seed_hash";

/// Load every seed under `models_dir/seeds`; returns the tables (re)written.
pub async fn load(warehouse: &Warehouse, models_dir: &Path) -> Result<Vec<String>> {
    let dir = models_dir.join("seeds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    paths.sort();
    let mut written = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        let err = |message: String| ModelError::File {
            file: file.clone(),
            message,
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let table =
            TableName::new("raw_seeds", stem).map_err(|e| err(format!("seed name: {e}")))?;
        let text = std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read: {e}")))?;
        let hash = fnv1a(text.as_bytes());
        if warehouse.mark(&table, HASH_MARK).await? == Some(hash) {
            continue;
        }
        let batch = parse(&text).map_err(err)?;
        // Replace the contents, then record which content it is; a crash in between
        // only means the next run rewrites the same rows again.
        warehouse
            .overwrite(&table, batch.schema(), vec![batch.clone()])
            .await?;
        warehouse
            .append_marked(
                &table,
                batch.schema(),
                Vec::new(),
                &[(HASH_MARK.to_string(), hash)],
            )
            .await?;
        written.push(table.to_string());
    }
    Ok(written)
}

/// 64-bit FNV-1a, as a non-negative i64 (Delta marks are i64).
fn fnv1a(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 1) as i64
}

fn split(line: &str) -> Vec<String> {
    // Seeds are simple CSV: commas, optional double quotes, no embedded newlines.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

fn is_ecb(header: &[String]) -> bool {
    header.first().is_some_and(|h| h == "Date")
        && header.len() > 1
        && header[1..]
            .iter()
            .filter(|c| !c.is_empty())
            .all(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()))
}

fn parse(text: &str) -> std::result::Result<RecordBatch, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split(lines.next().ok_or("the file is empty")?);
    let rows: Vec<Vec<String>> = lines.map(split).collect();
    let text_batch = |names: Vec<String>, columns: Vec<Vec<Option<String>>>| {
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays = columns
            .into_iter()
            .map(|c| Arc::new(StringArray::from(c)) as _)
            .collect();
        RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())
    };
    if is_ecb(&header) {
        let (mut dates, mut currencies, mut rates) = (Vec::new(), Vec::new(), Vec::new());
        for (i, row) in rows.iter().enumerate() {
            let date = row
                .first()
                .ok_or_else(|| format!("line {}: empty", i + 2))?;
            for (currency, rate) in header.iter().zip(row).skip(1) {
                if currency.is_empty() || rate.is_empty() || rate == "N/A" {
                    continue;
                }
                dates.push(Some(date.clone()));
                currencies.push(Some(currency.clone()));
                rates.push(Some(rate.clone()));
            }
        }
        return text_batch(
            vec!["rate_date".into(), "currency".into(), "rate".into()],
            vec![dates, currencies, rates],
        );
    }
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); header.len()];
    for (i, row) in rows.iter().enumerate() {
        if row.len() != header.len() {
            return Err(format!(
                "line {}: {} fields, the header has {}",
                i + 2,
                row.len(),
                header.len()
            ));
        }
        for (column, value) in columns.iter_mut().zip(row) {
            column.push((!value.is_empty()).then(|| value.clone()));
        }
    }
    text_batch(header, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    #[test]
    fn ecb_wide_becomes_long_and_skips_missing_rates() {
        let b = parse("Date,USD,JPY,\n2024-01-05,1.0921,N/A,\n2024-01-04,1.0953,160.1,\n").unwrap();
        assert_eq!(b.num_rows(), 3);
        let cur = b.column(1).as_string::<i32>();
        let rate = b.column(2).as_string::<i32>();
        assert_eq!((cur.value(0), rate.value(0)), ("USD", "1.0921"));
        assert_eq!((cur.value(2), rate.value(2)), ("JPY", "160.1"));
    }

    #[test]
    fn plain_csv_keeps_its_header_and_reports_ragged_lines() {
        let b = parse("code,name\nUS,\"United States, of America\"\n").unwrap();
        assert_eq!(b.schema().field(1).name(), "name");
        assert_eq!(
            b.column(1).as_string::<i32>().value(0),
            "United States, of America"
        );
        let err = parse("a,b\n1,2,3\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }
}
