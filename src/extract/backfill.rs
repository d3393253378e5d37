//! Historical backfill in time windows of `updated_at`, oldest first. Progress is a
//! mark in the primary raw table ("done up to" the end of the last landed window), and
//! each table's share of a window is committed together with that mark, so a backfill
//! killed at any point and run again continues where it stopped and lands every
//! record exactly once. A window the platform fails on (bulk job FAILED or TIMEOUT) is
//! split in half and retried, down to a minimum size.

use std::collections::VecDeque;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;

use super::incremental::{CURSOR_MARK, landed_between};
use super::land::Lander;
use super::progress::Progress;
use super::{ExtractError, Request, Result, Stream, StreamReport, Unit};
use crate::warehouse::Warehouse;

/// Knobs of a backfill.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// Window length to start with.
    pub window: Duration,
    /// Give up on a failing window once it is this small.
    pub min_window: Duration,
}

/// The mark recording how far the backfill that started at `from` got.
pub fn progress_mark(from: DateTime<Utc>) -> String {
    format!("lockstep.backfill.{}", from.timestamp())
}

/// Run one stream's backfill.
pub async fn run(
    warehouse: &Warehouse,
    source: &str,
    stream: &dyn Stream,
    options: Options,
) -> Result<StreamReport> {
    if options.to <= options.from {
        return Err(ExtractError::Usage(format!(
            "--to ({}) must be after --from ({})",
            options.to, options.from
        )));
    }
    let started = Instant::now();
    let lander = Lander {
        warehouse,
        source,
        stream,
    };
    let primary = lander.primary_table()?;
    let mark = progress_mark(options.from);
    let done_until = warehouse
        .mark(&primary, &mark)
        .await?
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .unwrap_or(options.from);
    let mut cursor = warehouse.mark(&primary, CURSOR_MARK).await?;
    let label = format!("{source}.{}", stream.name());
    let mut report = StreamReport {
        stream: label.clone(),
        ..Default::default()
    };
    let start = done_until.max(options.from);
    report.windows_skipped = windows_between(options.from, start, options.window);
    let remaining = Request::Window {
        from: start,
        to: options.to,
    };
    let mut progress = Progress::new(label, stream.estimate(remaining).await);
    let mut windows: VecDeque<(DateTime<Utc>, DateTime<Utc>)> = VecDeque::new();
    let mut at = start;
    while at < options.to {
        let end = (at + options.window).min(options.to);
        windows.push_back((at, end));
        at = end;
    }
    while let Some((from, to)) = windows.pop_front() {
        let units = match fetch_window(stream, from, to).await {
            Ok(units) => units,
            Err(ExtractError::BulkFailed {
                who,
                status,
                detail,
            }) => {
                let half = (to - from) / 2;
                if half < options.min_window {
                    return Err(ExtractError::BulkFailed {
                        who,
                        status,
                        detail,
                    });
                }
                tracing::warn!(%who, %status, %from, %to, "Bulk export failed; retrying the window in halves.");
                windows.push_front((from + half, to));
                windows.push_front((from, from + half));
                continue;
            }
            Err(e) => return Err(e),
        };
        let end_us = to.timestamp_micros();
        // Versions an incremental run (or an earlier backfill) already landed are not
        // landed again.
        let key = stream.entities().first().map_or("id", |e| e.key);
        let landed = landed_between(
            warehouse,
            &primary,
            key,
            from.timestamp_micros(),
            Some(end_us),
        )
        .await?;
        let before = units.len();
        let units: Vec<Unit> = units
            .into_iter()
            .filter(|u| !landed.contains(&(u.key.clone(), u.updated_at_us)))
            .collect();
        report.skipped += (before - units.len()) as u64;
        if let Some(max) = units.iter().map(|u| u.updated_at_us).max() {
            cursor = Some(cursor.map_or(max, |c| c.max(max)));
        }
        let mut marks = vec![(mark.clone(), end_us)];
        if let Some(c) = cursor {
            marks.push((CURSOR_MARK.to_string(), c));
        }
        let landed = lander.land(&units, &marks, Some((&mark, end_us))).await?;
        progress.add(units.len() as u64);
        for (entity, rows) in landed {
            *report.rows.entry(entity).or_default() += rows;
        }
        report.windows_landed += 1;
    }
    progress.finish();
    report.cursor = cursor
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .map(|t| t.to_rfc3339());
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn windows_between(from: DateTime<Utc>, to: DateTime<Utc>, window: Duration) -> u64 {
    if to <= from || window <= Duration::zero() {
        return 0;
    }
    let span = (to - from).num_seconds() as f64;
    (span / window.num_seconds().max(1) as f64).ceil() as u64
}

async fn fetch_window(
    stream: &dyn Stream,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Unit>> {
    let (tx, mut rx) = mpsc::channel(8);
    let collect = async {
        let mut units = Vec::new();
        while let Some(page) = rx.recv().await {
            units.extend(page?);
        }
        Ok::<_, ExtractError>(units)
    };
    let (fetched, collected) =
        tokio::join!(stream.fetch(Request::Window { from, to }, tx), collect);
    fetched?;
    collected
}
