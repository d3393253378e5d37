//! Incremental extraction by `updated_at` cursor. The cursor is stored as a mark in
//! the primary raw table's own commits, so it advances exactly when the rows it
//! covers are committed. Each run re-reads a lookback window before the cursor to
//! catch late updates (records whose `updated_at` lands behind rows already seen),
//! and skips records whose `(id, updated_at)` it has already landed, so only changed
//! records are appended.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Utc};
use datafusion::prelude::{col, lit};
use datafusion::scalar::ScalarValue;
use tokio::sync::mpsc;

use super::land::Lander;
use super::progress::Progress;
use super::{ExtractError, Request, Result, Stream, StreamReport, Unit};
use crate::warehouse::{TableName, Warehouse};

/// Mark (application transaction id) holding a stream's cursor, in µs since epoch.
pub const CURSOR_MARK: &str = "lockstep.cursor";
/// The cursor column every primary entity has.
pub const CURSOR_COLUMN: &str = "updated_at";

/// Knobs of an incremental run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How far before the cursor to re-read.
    pub lookback: Duration,
    /// Land after this many units are buffered.
    pub flush_units: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lookback: Duration::from_secs(3600),
            flush_units: 20_000,
        }
    }
}

/// Run one stream incrementally.
pub async fn run(
    warehouse: &Warehouse,
    source: &str,
    stream: &dyn Stream,
    options: Options,
) -> Result<StreamReport> {
    let started = Instant::now();
    let lander = Lander {
        warehouse,
        source,
        stream,
        earlier: Default::default(),
    };
    let primary = lander.primary_table()?;
    let key = stream.entities().first().map_or("id", |e| e.key);
    let cursor = warehouse.mark(&primary, CURSOR_MARK).await?;
    let lookback_us = i64::try_from(options.lookback.as_micros()).unwrap_or(i64::MAX);
    let since_us = cursor.map(|c| c.saturating_sub(lookback_us));
    let since = since_us.and_then(DateTime::<Utc>::from_timestamp_micros);
    let mut seen: HashSet<(String, i64)> = match since_us {
        Some(s) => landed_between(warehouse, &primary, key, s, None).await?,
        None => HashSet::new(),
    };

    let request = Request::UpdatedSince(since);
    let label = format!("{source}.{}", stream.name());
    let mut progress = Progress::new(label.clone(), stream.estimate(request).await);
    let (tx, mut rx) = mpsc::channel(4);
    let fetch = stream.fetch(request, tx);
    let consume = async {
        let mut report = StreamReport {
            stream: label.clone(),
            ..Default::default()
        };
        let mut buffer: Vec<Unit> = Vec::new();
        let mut new_cursor = cursor;
        while let Some(page) = rx.recv().await {
            for unit in page? {
                if !seen.insert((unit.key.clone(), unit.updated_at_us)) {
                    report.skipped += 1;
                    continue;
                }
                buffer.push(unit);
            }
            if buffer.len() >= options.flush_units {
                flush(
                    &lander,
                    &mut buffer,
                    &mut new_cursor,
                    &mut report,
                    &mut progress,
                )
                .await?;
            }
        }
        flush(
            &lander,
            &mut buffer,
            &mut new_cursor,
            &mut report,
            &mut progress,
        )
        .await?;
        report.cursor = new_cursor
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .map(|t| t.to_rfc3339());
        Ok::<_, ExtractError>(report)
    };
    // Fetching and landing overlap: the next page downloads while this one commits.
    let (fetched, consumed) = tokio::join!(fetch, consume);
    progress.finish();
    let mut report = match (fetched, consumed) {
        (Err(e), _) | (Ok(()), Err(e)) => return Err(e),
        (Ok(()), Ok(report)) => report,
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn flush(
    lander: &Lander<'_>,
    buffer: &mut Vec<Unit>,
    cursor: &mut Option<i64>,
    report: &mut StreamReport,
    progress: &mut Progress,
) -> Result<()> {
    if buffer.is_empty() {
        return Ok(());
    }
    let max = buffer.iter().map(|u| u.updated_at_us).max();
    let next = match (*cursor, max) {
        (Some(c), Some(m)) => Some(c.max(m)),
        (c, m) => c.or(m),
    };
    let marks: Vec<(String, i64)> = next
        .map(|c| (CURSOR_MARK.to_string(), c))
        .into_iter()
        .collect();
    let landed = lander.land(buffer, &marks, None).await?;
    *cursor = next;
    progress.add(buffer.len() as u64);
    for (entity, rows) in landed {
        *report.rows.entry(entity).or_default() += rows;
    }
    buffer.clear();
    Ok(())
}

/// `(id, updated_at)` of primary rows landed with `updated_at` in
/// `[since_us, until_us)` (no upper bound when `None`).
pub(super) async fn landed_between(
    warehouse: &Warehouse,
    table: &TableName,
    key: &str,
    since_us: i64,
    until_us: Option<i64>,
) -> Result<HashSet<(String, i64)>> {
    let Some(df) = warehouse.scan(table).await? else {
        return Ok(HashSet::new());
    };
    let at = |us: i64| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(us),
            Some("UTC".into()),
        ))
    };
    let mut predicate = col(CURSOR_COLUMN).gt_eq(at(since_us));
    if let Some(until) = until_us {
        predicate = predicate.and(col(CURSOR_COLUMN).lt(at(until)));
    }
    let batches = df
        .filter(predicate)
        .and_then(|df| df.select_columns(&[key, CURSOR_COLUMN]))
        .map_err(crate::warehouse::WarehouseError::from)?
        .collect()
        .await
        .map_err(crate::warehouse::WarehouseError::from)?;
    let mut out = HashSet::new();
    for batch in &batches {
        let ids = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let times = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        for i in 0..batch.num_rows() {
            if !ids.is_null(i) && !times.is_null(i) {
                out.insert((ids.value(i).to_string(), times.value(i)));
            }
        }
    }
    Ok(out)
}
