//! Contacts extraction through the search API, sorted by `lastmodifieddate`
//! ascending. Search stops at 10,000 results per query, so when a query is
//! exhausted at that cap the next one restarts from the last modification time seen
//! (records at exactly that instant are read twice and deduplicated downstream).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::client::Client;
use super::schema::{CONTACT_ENTITIES, CONTACT_PROPERTIES};
use crate::extract::{EntitySchema, PageSender, Request, Result, Stream, Unit};

/// Search page size (HubSpot's maximum for search is 200).
const PAGE: u32 = 200;
/// Results one search query can page through.
const SEARCH_CAP: u64 = 10_000;
const SEARCH: &str = "/crm/v3/objects/contacts/search";

/// The contacts stream.
pub struct Contacts {
    pub(super) client: Client,
}

fn millis(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

#[async_trait]
impl Stream for Contacts {
    fn name(&self) -> &'static str {
        "contacts"
    }

    fn entities(&self) -> &'static [&'static EntitySchema] {
        &CONTACT_ENTITIES
    }

    async fn fetch(&self, request: Request, pages: PageSender) -> Result<()> {
        let (mut from, to) = match request {
            Request::UpdatedSince(since) => (since, None),
            Request::Window { from, to } => (Some(from), Some(to)),
        };
        loop {
            let mut after: Option<String> = None;
            let mut read: u64 = 0;
            let mut last_seen: Option<DateTime<Utc>> = None;
            loop {
                let mut filters = Vec::new();
                if let Some(f) = from {
                    filters.push(json!({"propertyName": "lastmodifieddate", "operator": "GTE", "value": millis(f)}));
                }
                if let Some(t) = to {
                    filters.push(json!({"propertyName": "lastmodifieddate", "operator": "LT", "value": millis(t)}));
                }
                let mut body = json!({
                    "filterGroups": if filters.is_empty() { json!([]) } else { json!([{"filters": filters}]) },
                    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": CONTACT_PROPERTIES,
                    "limit": PAGE,
                });
                if let Some(a) = &after {
                    body["after"] = json!(a);
                }
                let page = self.client.post(SEARCH, &body).await?;
                let results = page
                    .get("results")
                    .and_then(Value::as_array)
                    .ok_or_else(|| self.client.protocol("search answer without results".into()))?;
                let mut units = Vec::with_capacity(results.len());
                for r in results {
                    let unit = self.unit(r)?;
                    last_seen =
                        DateTime::<Utc>::from_timestamp_micros(unit.updated_at_us).or(last_seen);
                    units.push(unit);
                }
                read += units.len() as u64;
                if pages.send(Ok(units)).await.is_err() {
                    return Ok(());
                }
                after = page.pointer("/paging/next/after").and_then(|a| {
                    a.as_str()
                        .map(str::to_owned)
                        .or_else(|| a.as_u64().map(|n| n.to_string()))
                });
                if after.is_none() || read + u64::from(PAGE) > SEARCH_CAP {
                    break;
                }
            }
            // Exhausted for real, or stopped at the cap: restart after what was seen.
            if after.is_none() || last_seen.is_none() || last_seen == from {
                return Ok(());
            }
            from = last_seen;
        }
    }
}

impl Contacts {
    fn unit(&self, record: &Value) -> Result<Unit> {
        let key = record
            .get("id")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| self.client.protocol("contact without an id".into()))?;
        let updated = record
            .get("updatedAt")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| {
                self.client
                    .protocol(format!("contact {key}: updatedAt is not an RFC 3339 time"))
            })?;
        Ok(Unit {
            key,
            updated_at_us: updated.timestamp_micros(),
            rows: vec![(CONTACT_ENTITIES[0], record.clone())],
        })
    }
}
