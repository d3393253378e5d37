//! Profile bulk import jobs: `POST /api/profile-bulk-import-jobs` answers 202 with
//! a queued job (≤ 10,000 profiles, else 400); the job then moves queued →
//! processing → complete on its own, applying profiles in chunks and recording
//! per-profile failures, readable at `.../{id}/import-errors`. The payload's
//! shape is checked up front; profile values (emails, phones, identifiers) are
//! checked while processing, as an asynchronous import does.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::profiles::{
    Query, decode_cursor, encode_cursor, next_link, page_size, param, self_link,
};
use super::store::{Profiles, fmt_time, new_id, parse_write};

/// Most profiles in one job.
pub const MAX_PROFILES: usize = 10_000;
/// Profiles applied per lock, so API reads interleave with a large import.
pub const CHUNK: usize = 500;

/// Job lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Accepted, not started.
    Queued,
    /// Applying profiles.
    Processing,
    /// Done.
    Complete,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Processing => "processing",
            Status::Complete => "complete",
        }
    }
}

/// One job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Job id.
    pub id: String,
    /// Current status.
    pub status: Status,
    /// Submitted profile resources.
    pub profiles: Vec<Value>,
    /// Lists the profiles are added to (recorded, not modelled further).
    pub lists: Vec<String>,
    /// Profiles applied successfully.
    pub completed: usize,
    /// Profiles refused, with their error.
    pub errors: Vec<(ApiError, Value)>,
    /// Ids of profiles the job created or updated.
    pub profile_ids: Vec<String>,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// Processing start.
    pub started_at: Option<DateTime<Utc>>,
    /// Completion.
    pub completed_at: Option<DateTime<Utc>>,
}

impl Job {
    /// The JSON:API resource.
    pub fn to_resource(&self, base: &str) -> Value {
        let self_link = format!("{base}/api/profile-bulk-import-jobs/{}/", self.id);
        json!({
            "type": "profile-bulk-import-job",
            "id": self.id,
            "attributes": {
                "status": self.status.name(),
                "created_at": fmt_time(self.created_at),
                "total_count": self.profiles.len(),
                "completed_count": self.completed,
                "failed_count": self.errors.len(),
                "completed_at": self.completed_at.map(fmt_time),
                "expires_at": fmt_time(self.created_at + Duration::days(7)),
                "started_at": self.started_at.map(fmt_time),
            },
            "relationships": {
                "lists": {"data": self.lists.iter().map(|l| json!({"type": "list", "id": l})).collect::<Vec<_>>()},
                "profiles": {"links": {"self": format!("{self_link}relationships/profiles/"), "related": format!("{self_link}profiles/")}},
                "import-errors": {"links": {"related": format!("{self_link}import-errors/")}},
            },
            "links": {"self": self_link},
        })
    }
}

/// All jobs by id.
pub type Jobs = BTreeMap<String, Job>;

/// Validates a submission and queues the job; returns its id and the 202 body.
pub fn submit(jobs: &mut Jobs, body: &Value, base: &str) -> Result<(String, Value), ApiError> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::invalid("'data' is a required field.", "/data"))?;
    if data.get("type").and_then(Value::as_str) != Some("profile-bulk-import-job") {
        return Err(ApiError::invalid(
            "The type must be 'profile-bulk-import-job'.",
            "/data/type",
        ));
    }
    let list = data
        .pointer("/attributes/profiles/data")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::invalid(
                "'profiles' is a required field.",
                "/data/attributes/profiles/data",
            )
        })?;
    if list.is_empty() || list.len() > MAX_PROFILES {
        return Err(ApiError::invalid(
            format!(
                "A bulk import job must contain between 1 and {MAX_PROFILES} profiles; got {}.",
                list.len()
            ),
            "/data/attributes/profiles/data",
        ));
    }
    for (i, p) in list.iter().enumerate() {
        let at = format!("/data/attributes/profiles/data/{i}");
        if p.get("type").and_then(Value::as_str) != Some("profile") {
            return Err(ApiError::invalid(
                "The type must be 'profile'.",
                &format!("{at}/type"),
            ));
        }
        if !p.get("attributes").is_some_and(Value::is_object) {
            return Err(ApiError::invalid(
                "'attributes' is a required field.",
                &format!("{at}/attributes"),
            ));
        }
    }
    let lists = data
        .pointer("/relationships/lists/data")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let job = Job {
        id: new_id(),
        status: Status::Queued,
        profiles: list.clone(),
        lists,
        completed: 0,
        errors: Vec::new(),
        profile_ids: Vec::new(),
        created_at: Utc::now(),
        started_at: None,
        completed_at: None,
    };
    let id = job.id.clone();
    let body = json!({ "data": job.to_resource(base) });
    jobs.insert(id.clone(), job);
    Ok((id, body))
}

/// Marks a job as processing.
pub fn start(jobs: &mut Jobs, id: &str) {
    if let Some(j) = jobs.get_mut(id) {
        j.status = Status::Processing;
        j.started_at = Some(Utc::now());
    }
}

/// Applies the profiles `[from, from + CHUNK)`; returns whether more remain.
pub fn process_chunk(jobs: &mut Jobs, profiles: &mut Profiles, id: &str, from: usize) -> bool {
    let Some(job) = jobs.get_mut(id) else {
        return false;
    };
    let end = (from + CHUNK).min(job.profiles.len());
    for i in from..end {
        let resource = &job.profiles[i];
        match parse_write(resource, "/data", true).and_then(|w| profiles.upsert(&w)) {
            Ok((pid, _)) => {
                job.completed += 1;
                job.profile_ids.push(pid);
            }
            Err(e) => job.errors.push((e, resource.clone())),
        }
    }
    if end >= job.profiles.len() {
        job.status = Status::Complete;
        job.completed_at = Some(Utc::now());
        false
    } else {
        true
    }
}

/// `GET /api/profile-bulk-import-jobs/{id}`.
pub fn get(jobs: &Jobs, id: &str, base: &str) -> Result<(StatusCode, Value), ApiError> {
    jobs.get(id)
        .map(|j| (StatusCode::OK, json!({ "data": j.to_resource(base) })))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "A profile bulk import job with id {id} does not exist."
            ))
        })
}

/// Offset paging shared by the job list and the import errors.
fn page(items: Vec<Value>, q: &Query, base: &str, path: &str) -> Result<Value, ApiError> {
    let size = page_size(q, 20, 100)?;
    let offset = match param(q, "page[cursor]") {
        Some(c) => decode_cursor(c)?["o"].as_u64().unwrap_or(0) as usize,
        None => 0,
    };
    let data: Vec<Value> = items.iter().skip(offset).take(size).cloned().collect();
    let next = (offset + size < items.len())
        .then(|| next_link(base, path, q, &encode_cursor(&json!({"o": offset + size}))));
    Ok(
        json!({"data": data, "links": {"self": self_link(base, path, q), "next": next, "prev": Value::Null}}),
    )
}

/// `GET /api/profile-bulk-import-jobs`.
pub fn list(jobs: &Jobs, q: &Query, base: &str, path: &str) -> Result<Value, ApiError> {
    let mut all: Vec<&Job> = jobs.values().collect();
    all.sort_by_key(|j| std::cmp::Reverse(j.created_at));
    page(
        all.iter().map(|j| j.to_resource(base)).collect(),
        q,
        base,
        path,
    )
}

/// `GET /api/profile-bulk-import-jobs/{id}/import-errors`.
pub fn import_errors(
    jobs: &Jobs,
    id: &str,
    q: &Query,
    base: &str,
    path: &str,
) -> Result<Value, ApiError> {
    let job = jobs.get(id).ok_or_else(|| {
        ApiError::not_found(format!(
            "A profile bulk import job with id {id} does not exist."
        ))
    })?;
    let items = job
        .errors
        .iter()
        .map(|(e, original)| {
            let err = e.to_json();
            json!({
                "type": "import-error",
                "id": err["id"],
                "attributes": {
                    "code": err["code"], "title": err["title"], "detail": err["detail"],
                    "source": err["source"], "original_payload": original,
                },
            })
        })
        .collect();
    page(items, q, base, path)
}
