//! Applying a plan: batches go out with bounded concurrency; a batch the destination
//! refuses as a whole is halved until the refusing rows stand alone; outcomes are
//! collected and flushed to the warehouse every few thousand rows or seconds — the
//! snapshot (acknowledged rows only) first, then results and rejects. A crash loses
//! at most the acknowledgements of the last unflushed interval, and those rows are
//! planned again and re-sent as idempotent upserts, so nothing is lost or created
//! twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::mpsc;

use super::tables::{self, ResultRow};
use super::{Destination, Outcome, SinkError};
use crate::diff::snapshot::{self, Ack};
use crate::diff::{Change, Counts, DiffError, Op, Plan};
use crate::extract::progress::Progress;
use crate::http::Counters;
use crate::warehouse::Warehouse;

/// How a plan is applied.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Flush outcomes after this many rows...
    pub flush_rows: usize,
    /// ...or this much time, whichever comes first.
    pub flush_every: Duration,
    /// Send nothing; report what would be sent.
    pub dry_run: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            flush_rows: 1_000,
            flush_every: Duration::from_secs(1),
            dry_run: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// The sync.
    pub sync: String,
    /// The plan applied.
    pub plan_id: String,
    /// Nothing was sent.
    pub dry_run: bool,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// `ok`, `rejects` (some rows refused), `failed` or `dry_run`.
    pub status: String,
    /// The plan's counts.
    pub planned: Counts,
    /// Rows the plan asked to send in this run.
    pub to_send: u64,
    /// Rows acknowledged.
    pub acked: u64,
    /// Rows refused (see `syncs.rejects`).
    pub rejected: u64,
    /// Up to five rejected keys with their reasons.
    pub sample_rejects: Vec<(String, String)>,
    /// API calls, 429s and retries.
    pub api: Counters,
    /// Wall time.
    pub seconds: f64,
    /// Why the run stopped early.
    pub error: Option<String>,
}

/// Aborts the sending task when the run ends for any reason.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Done = Result<Vec<(Change, Outcome)>, SinkError>;

/// Write `rows`, halving on whole-batch refusals until single rows are rejected.
fn send_split(dest: &dyn Destination, op: Op, mut rows: Vec<Change>) -> BoxFuture<'_, Done> {
    Box::pin(async move {
        match dest.write(op, &rows).await {
            Ok(outcomes) if outcomes.len() == rows.len() => {
                Ok(rows.into_iter().zip(outcomes).collect())
            }
            Ok(outcomes) => Err(SinkError::Protocol(format!(
                "{} answered {} outcomes for {} rows",
                dest.describe(),
                outcomes.len(),
                rows.len()
            ))),
            Err(SinkError::BatchRefused(reason)) if rows.len() == 1 => Ok(rows
                .into_iter()
                .map(|c| {
                    (
                        c,
                        Outcome::Rejected {
                            reason: reason.clone(),
                        },
                    )
                })
                .collect()),
            Err(SinkError::BatchRefused(_)) => {
                let right = rows.split_off(rows.len() / 2);
                let mut done = send_split(dest, op, rows).await?;
                done.extend(send_split(dest, op, right).await?);
                Ok(done)
            }
            Err(e) => Err(e),
        }
    })
}

/// Outcomes waiting to be written to the warehouse.
#[derive(Default)]
struct Pending {
    acks: Vec<Ack>,
    results: Vec<ResultRow>,
}

impl Pending {
    fn add(&mut self, plan: &Plan, change: Change, outcome: Outcome) {
        let fields: Vec<&str> = change
            .values
            .iter()
            .filter_map(|(f, _)| plan.fields.get(*f).map(String::as_str))
            .collect();
        let (status, dest_id, reason) = match outcome {
            Outcome::Acked { dest_id } => {
                let dest_id = dest_id.or_else(|| change.dest_id.clone());
                self.acks.push(Ack {
                    key: change.key.clone(),
                    dest_id: dest_id.clone(),
                    row_hash: change.row_hash,
                    field_hashes: change.field_hashes.clone(),
                    deleted: change.op == Op::Delete,
                    plan_id: plan.id.clone(),
                });
                ("acked", dest_id, None)
            }
            Outcome::Rejected { reason } => ("rejected", change.dest_id.clone(), Some(reason)),
        };
        self.results.push(ResultRow {
            values: if reason.is_some() {
                plan.values_json(&change).to_string()
            } else {
                String::new()
            },
            key: change.key,
            op: change.op.as_str(),
            status,
            dest_id,
            fields: fields.join(","),
            reason,
        });
    }

    async fn flush(
        &mut self,
        warehouse: &Warehouse,
        plan: &Plan,
        run_id: &str,
    ) -> Result<(), DiffError> {
        snapshot::append(warehouse, &plan.sync, &plan.fields, &self.acks).await?;
        tables::record_results(warehouse, (run_id, &plan.sync, &plan.id), &self.results).await?;
        self.acks.clear();
        self.results.clear();
        Ok(())
    }
}

/// Batches per op in plan order (creates, updates, deletes), sized by the destination.
fn batches(dest: &dyn Destination, changes: Vec<Change>) -> Vec<(Op, Vec<Change>)> {
    let mut by_op: [Vec<Change>; 3] = Default::default();
    for change in changes {
        let slot = match change.op {
            Op::Create => 0,
            Op::Update => 1,
            Op::Delete => 2,
        };
        by_op[slot].push(change);
    }
    let mut out = Vec::new();
    for (op, rows) in [Op::Create, Op::Update, Op::Delete].into_iter().zip(by_op) {
        if rows.is_empty() {
            continue;
        }
        let size = dest.batch_size(op, rows.len()).max(1);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            out.push((op, rows.by_ref().take(size).collect()));
        }
    }
    out
}

/// Apply `changes` (a plan's rows still to send) to `dest`.
pub async fn apply(
    warehouse: &Warehouse,
    plan: &Plan,
    changes: Vec<Change>,
    dest: Arc<dyn Destination>,
    options: ApplyOptions,
) -> Result<RunReport, DiffError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let before = dest.counters();
    let run_id = format!(
        "{}-run-{}",
        plan.sync,
        started_at.format("%Y%m%dT%H%M%S%.3f")
    );
    let mut report = RunReport {
        run_id: run_id.clone(),
        sync: plan.sync.clone(),
        plan_id: plan.id.clone(),
        dry_run: options.dry_run,
        started_at,
        finished_at: started_at,
        status: String::new(),
        planned: plan.counts,
        to_send: changes.len() as u64,
        acked: 0,
        rejected: 0,
        sample_rejects: Vec::new(),
        api: Counters::default(),
        seconds: 0.0,
        error: None,
    };
    if options.dry_run {
        report.status = "dry_run".into();
        return Ok(report);
    }
    let mut pending = Pending::default();
    // An update whose fields all match (the mapping dropped a field) needs no call:
    // only the snapshot learns the new fingerprint.
    let (local, remote): (Vec<Change>, Vec<Change>) = changes
        .into_iter()
        .partition(|c| c.op == Op::Update && c.values.is_empty());
    for change in local {
        pending.add(plan, change, Outcome::Acked { dest_id: None });
        report.acked += 1;
    }
    let mut progress = Progress::new(format!("sync {}", plan.sync), Some(report.to_send));
    let concurrency = dest.concurrency().max(1);
    let work = batches(dest.as_ref(), remote);
    let (tx, mut rx) = mpsc::channel::<Done>(concurrency * 2);
    let sender_dest = dest.clone();
    let _sender = AbortOnDrop(tokio::spawn(async move {
        let d = sender_dest.as_ref();
        let mut done = futures::stream::iter(work)
            .map(|(op, rows)| send_split(d, op, rows))
            .buffer_unordered(concurrency);
        while let Some(result) = done.next().await {
            let fatal = result.is_err();
            if tx.send(result).await.is_err() || fatal {
                break;
            }
        }
    }));
    let mut last_flush = Instant::now();
    loop {
        match tokio::time::timeout(options.flush_every, rx.recv()).await {
            Ok(Some(Ok(done))) => {
                progress.add(done.len() as u64);
                for (change, outcome) in done {
                    match &outcome {
                        Outcome::Acked { .. } => report.acked += 1,
                        Outcome::Rejected { reason } => {
                            report.rejected += 1;
                            if report.sample_rejects.len() < 5 {
                                report
                                    .sample_rejects
                                    .push((change.key.clone(), reason.clone()));
                            }
                        }
                    }
                    pending.add(plan, change, outcome);
                }
            }
            Ok(Some(Err(e))) => {
                report.error = Some(e.to_string());
                break;
            }
            Ok(None) => break,
            Err(_) => {}
        }
        if pending.results.len() >= options.flush_rows
            || last_flush.elapsed() >= options.flush_every
        {
            pending.flush(warehouse, plan, &run_id).await?;
            last_flush = Instant::now();
        }
    }
    pending.flush(warehouse, plan, &run_id).await?;
    progress.finish();
    let after = dest.counters();
    report.api = Counters {
        requests: after.requests - before.requests,
        throttled: after.throttled - before.throttled,
        retries: after.retries - before.retries,
    };
    report.finished_at = Utc::now();
    report.seconds = clock.elapsed().as_secs_f64();
    report.status = if report.error.is_some() {
        "failed"
    } else if report.rejected > 0 {
        "rejects"
    } else {
        "ok"
    }
    .into();
    tables::record_run(warehouse, &report).await?;
    if report.error.is_none() {
        snapshot::compact_if_due(warehouse, &plan.sync).await?;
    }
    Ok(report)
}
