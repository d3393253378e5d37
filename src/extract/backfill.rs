//! Historical backfill in time windows of `updated_at`, oldest first. Progress is a
//! mark in the primary raw table ("done up to" the end of the last landed window), and
//! each table's share of a window is committed together with that mark, so a backfill
//! killed at any point and run again continues where it stopped and lands every
//! record exactly once. A window the platform fails on (bulk job FAILED or TIMEOUT) is
//! split in half and retried, down to a minimum size.
//!
//! Streams with a bulk export ([`Stream::bulk`]) are loaded through it: the exports of
//! windows N+1 and N+2 run on their own tasks while window N is being landed, so the
//! platform's jobs, the downloads and the parsing overlap the Parquet writes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;

use super::incremental::{CURSOR_MARK, landed_between};
use super::land::Lander;
use super::progress::Progress;
use super::{BulkExport, Export, ExtractError, Request, Result, Stream, StreamReport, Unit};
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
    /// Use the platform's bulk export where the stream has one (otherwise page).
    pub bulk: bool,
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
        earlier: Default::default(),
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
    if let Some(export) = stream.bulk().filter(|_| options.bulk) {
        let key = stream.entities().first().map_or("id", |e| e.key);
        let skip = landed_between(
            warehouse,
            &primary,
            key,
            start.timestamp_micros(),
            Some(options.to.timestamp_micros()),
        )
        .await?;
        let ctx = BulkRun {
            lander: &lander,
            mark: &mark,
            min_window: options.min_window,
            export,
            skip: Arc::new(skip),
        };
        ctx.run(windows, &mut cursor, &mut report, &mut progress)
            .await?;
        progress.finish();
        report.cursor = cursor
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .map(|t| t.to_rfc3339());
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    while let Some((from, to)) = windows.pop_front() {
        let units = match fetch_window(stream, from, to).await {
            Ok(units) => units,
            Err(ExtractError::BulkFailed {
                who,
                status,
                detail,
            }) => {
                let failed = (who, status, detail);
                split_failed(&mut windows, (from, to), options.min_window, failed)?;
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

/// Queue the halves of a window the platform failed on in front of `windows`, or
/// fail with one line when it cannot be halved above `min`. `failed` is the failure
/// (who, status, detail).
fn split_failed(
    windows: &mut VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    min: Duration,
    (who, status, detail): (String, String, String),
) -> Result<()> {
    let half = (to - from) / 2;
    if half < min {
        return Err(too_small(who, status, detail, from, to, min));
    }
    tracing::warn!(%who, %status, %detail, %from, %to, "Bulk export failed; retrying the window in halves.");
    windows.push_front((from + half, to));
    windows.push_front((from, from + half));
    Ok(())
}

/// The error of a window that failed and cannot be halved any further.
fn too_small(
    who: String,
    status: String,
    detail: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    min: Duration,
) -> ExtractError {
    ExtractError::BulkFailed {
        who,
        status,
        detail: format!(
            "{detail}; the window {from} .. {to} failed even halved down to the minimum of {} minutes — retry later or backfill this range with --paging",
            min.num_minutes()
        ),
    }
}

/// Exports running ahead of the window being landed: the platform's job and the
/// download and parse of the next windows overlap the Parquet writes of this one.
const IN_FLIGHT: usize = 2;

/// Exports in flight, oldest first; stopped when dropped (a failed run leaves none
/// behind).
struct Flight(VecDeque<Pending>);

impl Drop for Flight {
    fn drop(&mut self) {
        for (_, job) in &self.0 {
            job.abort();
        }
    }
}

/// A window's export running on its own task.
type Pending = (
    (DateTime<Utc>, DateTime<Utc>),
    tokio::task::JoinHandle<Result<Export>>,
);

/// The bulk-export path of one stream's backfill.
struct BulkRun<'a> {
    lander: &'a Lander<'a>,
    mark: &'a str,
    min_window: Duration,
    export: Arc<dyn BulkExport>,
    /// Versions already landed anywhere in the backfill's remaining range (read once
    /// per run, not per window: a fresh backfill finds none).
    skip: Arc<super::Landed>,
}

impl BulkRun<'_> {
    /// Start exporting a window: versions already landed are left out.
    fn start(&self, (from, to): (DateTime<Utc>, DateTime<Utc>)) -> Pending {
        let export = self.export.clone();
        let skip = self.skip.clone();
        (
            (from, to),
            tokio::spawn(async move { export.export(from, to, skip).await }),
        )
    }

    /// Keep `IN_FLIGHT` exports running ahead of the window being landed.
    async fn top_up(
        &self,
        flight: &mut Flight,
        windows: &mut VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<()> {
        while flight.0.len() < IN_FLIGHT {
            let Some(w) = windows.pop_front() else {
                break;
            };
            flight.0.push_back(self.start(w));
        }
        Ok(())
    }

    async fn run(
        &self,
        mut windows: VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
        cursor: &mut Option<i64>,
        report: &mut StreamReport,
        progress: &mut Progress,
    ) -> Result<()> {
        let mut flight = Flight(VecDeque::new());
        // End of the last window found empty and not committed yet: empty windows
        // land nothing, so their "done up to" mark rides on the next commit (a run
        // killed before it just exports them again).
        let mut idle_until: Option<DateTime<Utc>> = None;
        loop {
            self.top_up(&mut flight, &mut windows).await?;
            let Some(((from, to), job)) = flight.0.pop_front() else {
                if let Some(end) = idle_until {
                    self.land(Export::default(), end, cursor, report).await?;
                }
                return Ok(());
            };
            let exported = match job.await {
                Ok(result) => result,
                Err(e) => Err(ExtractError::Usage(format!(
                    "bulk export task of {from} .. {to} stopped: {e}"
                ))),
            };
            let export = match exported {
                Ok(export) => export,
                Err(ExtractError::BulkFailed {
                    who,
                    status,
                    detail,
                }) => {
                    // Windows land in order: the later ones already running are
                    // stopped and queued again behind the halves.
                    while let Some((w, job)) = flight.0.pop_back() {
                        job.abort();
                        windows.push_front(w);
                    }
                    let failed = (who, status, detail);
                    split_failed(&mut windows, (from, to), self.min_window, failed)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.windows_landed += 1;
            if export.units == 0 && export.skipped == 0 {
                idle_until = Some(to);
                continue;
            }
            idle_until = None;
            // The next windows export while this one lands.
            self.top_up(&mut flight, &mut windows).await?;
            let landed = self.land(export, to, cursor, report).await?;
            progress.add(landed);
        }
    }

    /// Land one window with its marks; returns the primary records landed.
    async fn land(
        &self,
        export: Export,
        to: DateTime<Utc>,
        cursor: &mut Option<i64>,
        report: &mut StreamReport,
    ) -> Result<u64> {
        let end_us = to.timestamp_micros();
        let units = export.units;
        report.skipped += export.skipped;
        if let Some(max) = export.max_updated_at_us {
            *cursor = Some(cursor.map_or(max, |c| c.max(max)));
        }
        let mut marks = vec![(self.mark.to_string(), end_us)];
        if let Some(c) = *cursor {
            marks.push((CURSOR_MARK.to_string(), c));
        }
        let landed = self
            .lander
            .land_export(export, &marks, Some((self.mark, end_us)))
            .await?;
        for (entity, rows) in landed {
            *report.rows.entry(entity).or_default() += rows;
        }
        Ok(units)
    }
}
