//! Running a source: each selected stream in turn (incremental or backfill), with a
//! `meta.extract_runs` record per stream whether it succeeded or failed.

use chrono::Utc;

use super::runs::{RunRecord, record};
use super::{ApiCounters, ExtractError, Result, Source, StreamReport, backfill, incremental};
use crate::warehouse::Warehouse;

/// What kind of run.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Incremental by cursor.
    Incremental(incremental::Options),
    /// Windowed historical load.
    Backfill(backfill::Options),
}

/// Run `source` (only `stream` if given) into `warehouse`.
pub async fn run(
    warehouse: &Warehouse,
    source: &dyn Source,
    stream: Option<&str>,
    mode: Mode,
) -> Result<Vec<StreamReport>> {
    let streams: Vec<_> = source
        .streams()
        .into_iter()
        .filter(|s| stream.is_none_or(|want| want == s.name()))
        .collect();
    if streams.is_empty() {
        return Err(ExtractError::Usage(format!(
            "source {} has no stream {:?} (streams: {})",
            source.name(),
            stream.unwrap_or_default(),
            source
                .streams()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut reports = Vec::new();
    for s in streams {
        let before = source.counters();
        let started_at = Utc::now();
        let result = match mode {
            Mode::Incremental(o) => incremental::run(warehouse, source.name(), s.as_ref(), o).await,
            Mode::Backfill(o) => backfill::run(warehouse, source.name(), s.as_ref(), o).await,
        };
        let after = source.counters();
        let api = ApiCounters {
            requests: after.requests - before.requests,
            throttled: after.throttled - before.throttled,
            retries: after.retries - before.retries,
        };
        let (status, rows, cursor, error) = match &result {
            Ok(r) => ("ok", r.primary_rows(s.as_ref()), r.cursor.clone(), None),
            Err(e) => ("failed", 0, None, Some(e.to_string())),
        };
        record(
            warehouse,
            &[RunRecord {
                run_id: run_id.clone(),
                mode: match mode {
                    Mode::Incremental(_) => "incremental",
                    Mode::Backfill(_) => "backfill",
                },
                source: source.name().to_string(),
                stream: s.name().to_string(),
                started_at,
                finished_at: Utc::now(),
                status,
                rows,
                api,
                cursor,
                error,
            }],
        )
        .await?;
        reports.push(result?);
    }
    Ok(reports)
}
