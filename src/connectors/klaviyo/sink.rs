//! Klaviyo as a sync destination. Profiles: small plans go one profile at a time
//! through `profile-import` (an upsert by email/phone/external id; 200 updated, 201
//! created); plans above [`BULK_FROM`] rows go through profile bulk import jobs of up
//! to [`BULK_BATCH`] profiles, polled to completion, with failed profiles read back
//! from the job's import errors. Standard attributes are sent as attributes, every
//! other field as a custom property. Events: one `POST /api/events` each, with the
//! plan key as `unique_id`, so a retried or replayed event is recorded once.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::Client;
use crate::diff::{Change, Op, SyncSpec};
use crate::extract::{ExtractError, Result};
use crate::http::{Counters, HttpError};
use crate::sink::{Destination, Outcome, SinkError};

/// Plans with more rows than this use bulk import jobs.
pub const BULK_FROM: usize = 200;
/// Profiles per bulk job (Klaviyo allows 10,000 and 5 MB; this stays well under).
pub const BULK_BATCH: usize = 5_000;
/// Profile attributes Klaviyo stores outside `properties`.
const ATTRIBUTES: &[&str] = &[
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
];

fn refused(e: HttpError) -> SinkError {
    match e {
        HttpError::Status(s) if s.status.is_client_error() => {
            SinkError::BatchRefused(error_detail(&s.body).unwrap_or(s.detail))
        }
        other => other.into(),
    }
}

/// `title: detail` of the first JSON:API error.
fn error_detail(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v["errors"].get(0)?;
    Some(format!(
        "{}: {}",
        e["title"].as_str().unwrap_or("error"),
        e["detail"].as_str().unwrap_or("")
    ))
}

fn parse(who: &str, body: &[u8]) -> std::result::Result<Value, SinkError> {
    serde_json::from_slice(body)
        .map_err(|e| SinkError::Protocol(format!("{who}: answer is not JSON: {e}")))
}

/// A sync writing Klaviyo profiles.
pub struct ProfilesSink {
    client: Client,
    spec: SyncSpec,
    name: String,
}

impl ProfilesSink {
    /// A sink for `spec` through `client`.
    pub fn new(name: &str, client: Client, spec: SyncSpec) -> ProfilesSink {
        ProfilesSink {
            client,
            spec,
            name: name.to_string(),
        }
    }

    /// The profile resource for a change; `unset` lists custom properties to clear.
    fn profile(&self, change: &Change, bulk: bool) -> Value {
        let mut attributes = Map::new();
        let mut properties = Map::new();
        let mut unset = Vec::new();
        attributes.insert(
            self.spec.key_field.clone(),
            Value::String(change.key.clone()),
        );
        for (f, v) in &change.values {
            let Some(m) = self.spec.fields.get(*f) else {
                continue;
            };
            let value = v.clone().map_or(Value::Null, Value::String);
            if ATTRIBUTES.contains(&m.field.as_str()) {
                attributes.insert(m.field.clone(), value);
            } else if v.is_none() && !bulk {
                unset.push(Value::String(m.field.clone()));
            } else {
                properties.insert(m.field.clone(), value);
            }
        }
        if !properties.is_empty() {
            attributes.insert("properties".into(), Value::Object(properties));
        }
        let mut profile = json!({"type": "profile", "attributes": attributes});
        if !unset.is_empty() {
            profile["meta"] = json!({"patch_properties": {"unset": unset}});
        }
        profile
    }

    async fn import_one(&self, change: &Change) -> std::result::Result<Outcome, SinkError> {
        let body = json!({"data": self.profile(change, false)});
        let reply = self
            .client
            .send_raw(Method::POST, "/api/profile-import", Some(&body))
            .await
            .map_err(refused)?;
        let answer = parse(&self.describe(), &reply.body)?;
        Ok(Outcome::Acked {
            dest_id: answer["data"]["id"].as_str().map(str::to_string),
        })
    }

    async fn import_bulk(&self, rows: &[Change]) -> std::result::Result<Vec<Outcome>, SinkError> {
        let profiles: Vec<Value> = rows.iter().map(|c| self.profile(c, true)).collect();
        let body = json!({"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}});
        let reply = self
            .client
            .send_raw(Method::POST, "/api/profile-bulk-import-jobs", Some(&body))
            .await
            .map_err(refused)?;
        let job = parse(&self.describe(), &reply.body)?;
        let id = job["data"]["id"].as_str().ok_or_else(|| {
            SinkError::Protocol(format!(
                "{}: bulk import job without an id",
                self.describe()
            ))
        })?;
        let job_path = format!("/api/profile-bulk-import-jobs/{id}");
        let mut wait = Duration::from_millis(250);
        loop {
            let status = self.get(&job_path).await?;
            match status["data"]["attributes"]["status"].as_str() {
                Some("complete") => break,
                Some("cancelled") => {
                    return Err(SinkError::Protocol(format!(
                        "{}: bulk import job {id} was cancelled",
                        self.describe()
                    )));
                }
                _ => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        // Failed profiles are named by their payload; match them by key.
        let mut failed: HashMap<String, String> = HashMap::new();
        let mut next = Some(format!("{}{job_path}/import-errors", self.client.base()));
        while let Some(url) = next.take() {
            let page = self
                .client
                .get(&url, &[])
                .await
                .map_err(|e| extract_to_sink(&self.describe(), e))?;
            for e in page["data"].as_array().into_iter().flatten() {
                let a = &e["attributes"];
                if let Some(key) = a["original_payload"][&self.spec.key_field].as_str() {
                    let reason = format!(
                        "{}: {}",
                        a["title"].as_str().unwrap_or("error"),
                        a["detail"].as_str().unwrap_or("")
                    );
                    failed.insert(key.trim().to_lowercase(), reason);
                }
            }
            next = page["links"]["next"].as_str().map(str::to_string);
        }
        Ok(rows
            .iter()
            .map(|c| match failed.remove(&c.key.trim().to_lowercase()) {
                Some(reason) => Outcome::Rejected { reason },
                None => Outcome::Acked { dest_id: None },
            })
            .collect())
    }

    async fn get(&self, path: &str) -> std::result::Result<Value, SinkError> {
        let reply = self.client.send_raw(Method::GET, path, None).await?;
        parse(&self.describe(), &reply.body)
    }
}

fn extract_to_sink(who: &str, e: ExtractError) -> SinkError {
    match e {
        ExtractError::Http(h) => SinkError::Http(h),
        other => SinkError::Protocol(format!("{who}: {other}")),
    }
}

#[async_trait]
impl Destination for ProfilesSink {
    fn describe(&self) -> String {
        format!("klaviyo destination '{}' profiles", self.name)
    }

    fn batch_size(&self, _op: Op, planned: usize) -> usize {
        if planned > BULK_FROM { BULK_BATCH } else { 1 }
    }

    fn concurrency(&self) -> usize {
        // profile-import allows 75/s; bulk jobs are few and large.
        8
    }

    async fn write(
        &self,
        _op: Op,
        rows: &[Change],
    ) -> std::result::Result<Vec<Outcome>, SinkError> {
        // Deletes of profiles are clears (config refuses mirror deletes here): the
        // change carries every field as NULL.
        match rows {
            [one] => Ok(vec![self.import_one(one).await?]),
            many => self.import_bulk(many).await,
        }
    }

    fn counters(&self) -> Counters {
        self.client.api().stats().snapshot()
    }
}

/// A sync writing Klaviyo events (immutable; create-only).
pub struct EventsSink {
    client: Client,
    spec: SyncSpec,
    name: String,
    metric: usize,
}

impl EventsSink {
    /// A sink for `spec`, which must map `metric` and a profile identifier.
    pub fn new(name: &str, client: Client, spec: SyncSpec) -> Result<EventsSink> {
        let has = |f: &str| spec.fields.iter().position(|m| m.field == f);
        let metric = has("metric").ok_or_else(|| {
            ExtractError::Usage(format!(
                "syncs.{}: events need a `metric` field (the event name, e.g. \"Placed Order\")",
                spec.name
            ))
        })?;
        if !["email", "phone_number", "external_id"]
            .iter()
            .any(|f| has(f).is_some())
        {
            return Err(ExtractError::Usage(format!(
                "syncs.{}: events need a profile identifier field: email, phone_number or external_id",
                spec.name
            )));
        }
        Ok(EventsSink {
            client,
            spec,
            name: name.to_string(),
            metric,
        })
    }

    fn event(&self, change: &Change) -> std::result::Result<Value, String> {
        let mut profile = Map::new();
        let mut properties = Map::new();
        let mut attributes = Map::new();
        let mut metric = None;
        for (f, v) in &change.values {
            let Some(m) = self.spec.fields.get(*f) else {
                continue;
            };
            let Some(v) = v else { continue };
            match m.field.as_str() {
                "metric" => metric = Some(v.clone()),
                "email" | "phone_number" | "external_id" => {
                    profile.insert(m.field.clone(), Value::String(v.clone()));
                }
                "value" => {
                    let n: f64 = v
                        .parse()
                        .map_err(|_| format!("value {v:?} is not a number"))?;
                    attributes.insert("value".into(), json!(n));
                }
                "time" | "value_currency" => {
                    attributes.insert(m.field.clone(), Value::String(v.clone()));
                }
                _ => {
                    properties.insert(m.field.clone(), Value::String(v.clone()));
                }
            }
        }
        let metric = metric.ok_or_else(|| {
            format!(
                "field {} is NULL: an event needs a metric name",
                self.spec.fields[self.metric].column
            )
        })?;
        if profile.is_empty() {
            return Err("no profile identifier (email, phone_number, external_id) is set".into());
        }
        attributes.insert("properties".into(), Value::Object(properties));
        attributes.insert("unique_id".into(), Value::String(change.key.clone()));
        attributes.insert(
            "metric".into(),
            json!({"data": {"type": "metric", "attributes": {"name": metric}}}),
        );
        attributes.insert(
            "profile".into(),
            json!({"data": {"type": "profile", "attributes": profile}}),
        );
        Ok(json!({"data": {"type": "event", "attributes": attributes}}))
    }
}

#[async_trait]
impl Destination for EventsSink {
    fn describe(&self) -> String {
        format!("klaviyo destination '{}' events", self.name)
    }

    fn batch_size(&self, _op: Op, _planned: usize) -> usize {
        1
    }

    fn concurrency(&self) -> usize {
        8
    }

    async fn write(
        &self,
        _op: Op,
        rows: &[Change],
    ) -> std::result::Result<Vec<Outcome>, SinkError> {
        let mut out = Vec::with_capacity(rows.len());
        for change in rows {
            let body = match self.event(change) {
                Ok(b) => b,
                Err(reason) => {
                    out.push(Outcome::Rejected { reason });
                    continue;
                }
            };
            self.client
                .send_raw(Method::POST, "/api/events", Some(&body))
                .await
                .map_err(refused)?;
            out.push(Outcome::Acked { dest_id: None });
        }
        Ok(out)
    }

    fn counters(&self) -> Counters {
        self.client.api().stats().snapshot()
    }
}
