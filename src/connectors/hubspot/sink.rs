//! HubSpot contacts as a sync destination. Creates and updates go through
//! `batch/upsert` keyed by the sync's key property (`idProperty` per input, values
//! as strings, an empty string clears), `update_only` through `batch/update`,
//! `create_only` through `batch/create` with a trace id per input (HubSpot's opt-in
//! to per-item 207s), mirror deletes through `batch/archive` by record id. A 207
//! names failing inputs in `context.ids`; a 400 refuses the whole batch (with
//! `email` as `idProperty` HubSpot writes nothing if any input is bad), which the
//! engine answers by splitting the batch.

use std::collections::HashMap;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use super::Client;
use crate::diff::{Change, Mode, Op, SyncSpec};
use crate::http::{Counters, HttpError};
use crate::sink::{Destination, Outcome, SinkError};

const OBJECTS: &str = "/crm/v3/objects/contacts";
/// HubSpot's batch limit.
const BATCH: usize = 100;

/// A sync writing HubSpot contacts.
pub struct ContactsSink {
    client: Client,
    spec: SyncSpec,
    name: String,
}

impl ContactsSink {
    /// A sink for `spec` through `client`.
    pub fn new(name: &str, client: Client, spec: SyncSpec) -> ContactsSink {
        ContactsSink {
            client,
            spec,
            name: name.to_string(),
        }
    }

    fn properties(&self, change: &Change) -> Map<String, Value> {
        change
            .values
            .iter()
            .filter_map(|(f, v)| {
                let field = &self.spec.fields.get(*f)?.field;
                // HubSpot clears a property with an empty string.
                Some((field.clone(), Value::String(v.clone().unwrap_or_default())))
            })
            .collect()
    }

    fn upsert_body(&self, rows: &[Change]) -> Value {
        let inputs: Vec<Value> = rows
            .iter()
            .map(|c| json!({"idProperty": self.spec.key_field, "id": c.key, "properties": self.properties(c)}))
            .collect();
        json!({ "inputs": inputs })
    }

    fn create_body(&self, rows: &[Change]) -> Value {
        let inputs: Vec<Value> = rows
            .iter()
            .map(|c| {
                let mut props = self.properties(c);
                props.insert(self.spec.key_field.clone(), Value::String(c.key.clone()));
                json!({"properties": props, "objectWriteTraceId": c.key})
            })
            .collect();
        json!({ "inputs": inputs })
    }

    async fn post(&self, op: &str, body: &Value) -> Result<Value, SinkError> {
        match self
            .client
            .post_raw(&format!("{OBJECTS}/batch/{op}"), body)
            .await
        {
            Ok(reply) if reply.status == StatusCode::NO_CONTENT || reply.body.is_empty() => {
                Ok(Value::Null)
            }
            Ok(reply) => serde_json::from_slice(&reply.body).map_err(|e| {
                SinkError::Protocol(format!(
                    "{}: batch/{op} answered non-JSON: {e}",
                    self.describe()
                ))
            }),
            Err(HttpError::Status(s)) if s.status.is_client_error() => Err(
                SinkError::BatchRefused(error_message(&s.body).unwrap_or(s.detail)),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Outcomes of a 200/207 batch answer, matched to `rows` by key.
    fn outcomes(&self, rows: &[Change], answer: &Value, exists_is_ok: bool) -> Vec<Outcome> {
        let norm = |s: &str| s.trim().to_lowercase();
        let mut ids: HashMap<String, String> = HashMap::new();
        for r in answer["results"].as_array().into_iter().flatten() {
            if let (Some(id), Some(key)) = (
                r["id"].as_str(),
                r["properties"][&self.spec.key_field].as_str(),
            ) {
                ids.insert(norm(key), id.to_string());
            }
        }
        let mut errors: HashMap<String, Outcome> = HashMap::new();
        for e in answer["errors"].as_array().into_iter().flatten() {
            let message = e["message"].as_str().unwrap_or("rejected").to_string();
            let conflict = e["category"].as_str() == Some("CONFLICT");
            let existing = e["context"]["existingId"][0].as_str().map(str::to_string);
            for label in e["context"]["ids"].as_array().into_iter().flatten() {
                let Some(label) = label.as_str() else {
                    continue;
                };
                let outcome = if conflict && exists_is_ok {
                    Outcome::Acked {
                        dest_id: existing.clone(),
                    }
                } else {
                    Outcome::Rejected {
                        reason: message.clone(),
                    }
                };
                errors.insert(norm(label), outcome);
            }
        }
        rows.iter()
            .map(|c| {
                let k = norm(&c.key);
                errors.remove(&k).unwrap_or_else(|| Outcome::Acked {
                    dest_id: ids.get(&k).cloned(),
                })
            })
            .collect()
    }

    async fn delete(&self, rows: &[Change]) -> Result<Vec<Outcome>, SinkError> {
        // Record ids come from earlier acknowledgements; look up the ones not known.
        let unknown: Vec<&Change> = rows.iter().filter(|c| c.dest_id.is_none()).collect();
        let mut found: HashMap<String, String> = HashMap::new();
        if !unknown.is_empty() {
            let inputs: Vec<Value> = unknown.iter().map(|c| json!({"id": c.key})).collect();
            let body = json!({"idProperty": self.spec.key_field, "inputs": inputs, "properties": [self.spec.key_field]});
            let answer = self.post("read", &body).await?;
            for r in answer["results"].as_array().into_iter().flatten() {
                if let (Some(id), Some(key)) = (
                    r["id"].as_str(),
                    r["properties"][&self.spec.key_field].as_str(),
                ) {
                    found.insert(key.trim().to_lowercase(), id.to_string());
                }
            }
        }
        let ids: Vec<Option<String>> = rows
            .iter()
            .map(|c| {
                c.dest_id
                    .clone()
                    .or_else(|| found.get(&c.key.trim().to_lowercase()).cloned())
            })
            .collect();
        let inputs: Vec<Value> = ids.iter().flatten().map(|id| json!({"id": id})).collect();
        if !inputs.is_empty() {
            self.post("archive", &json!({"inputs": inputs})).await?;
        }
        // A record HubSpot no longer has is as deleted as it gets.
        Ok(ids
            .into_iter()
            .map(|dest_id| Outcome::Acked { dest_id })
            .collect())
    }
}

/// The message of a HubSpot error body, with the per-input details when present.
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut message = v["message"].as_str()?.to_string();
    let details: Vec<&str> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .take(3)
        .collect();
    if !details.is_empty() {
        message.push_str(": ");
        message.push_str(&details.join("; "));
    }
    Some(message)
}

#[async_trait]
impl Destination for ContactsSink {
    fn describe(&self) -> String {
        format!("hubspot destination '{}' contacts", self.name)
    }

    fn batch_size(&self, _op: Op, _planned: usize) -> usize {
        BATCH
    }

    async fn write(&self, op: Op, rows: &[Change]) -> Result<Vec<Outcome>, SinkError> {
        match (op, self.spec.mode) {
            (Op::Delete, Mode::Mirror { clear: false }) => self.delete(rows).await,
            (Op::Update, Mode::UpdateOnly) => {
                let inputs: Vec<Value> = rows
                    .iter()
                    .map(|c| json!({"idProperty": self.spec.key_field, "id": c.key, "properties": self.properties(c)}))
                    .collect();
                let answer = self.post("update", &json!({ "inputs": inputs })).await?;
                Ok(self.outcomes(rows, &answer, false))
            }
            (Op::Create, Mode::CreateOnly) => {
                let answer = self.post("create", &self.create_body(rows)).await?;
                Ok(self.outcomes(rows, &answer, true))
            }
            _ => {
                let answer = self.post("upsert", &self.upsert_body(rows)).await?;
                Ok(self.outcomes(rows, &answer, false))
            }
        }
    }

    fn counters(&self) -> Counters {
        self.client.api().stats().snapshot()
    }
}
