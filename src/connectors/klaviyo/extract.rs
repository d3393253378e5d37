//! Profiles extraction: `GET /api/profiles` sorted by `updated`, filtered with
//! `greater-than(updated, …)` (and `less-than` for windows), following
//! `links.next` cursors.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::client::Client;
use super::schema::PROFILE_ENTITIES;
use crate::extract::{EntitySchema, PageSender, Request, Result, Stream, Unit};

/// The profiles stream.
pub struct Profiles {
    pub(super) client: Client,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[async_trait]
impl Stream for Profiles {
    fn name(&self) -> &'static str {
        "profiles"
    }

    fn entities(&self) -> &'static [&'static EntitySchema] {
        &PROFILE_ENTITIES
    }

    async fn fetch(&self, request: Request, pages: PageSender) -> Result<()> {
        // greater-than is strict: start one second early (the filter has second
        // precision) and let the lookback dedupe drop what was already landed.
        let since = |t: DateTime<Utc>| {
            format!(
                "greater-than(updated,{})",
                ts(t - chrono::Duration::seconds(1))
            )
        };
        let filter = match request {
            Request::UpdatedSince(None) => None,
            Request::UpdatedSince(Some(t)) => Some(since(t)),
            Request::Window { from, to } => Some(format!(
                "and({},less-than(updated,{}))",
                since(from),
                ts(to)
            )),
        };
        let until = match request {
            Request::Window { from, to } => Some((from.timestamp_micros(), to.timestamp_micros())),
            Request::UpdatedSince(_) => None,
        };
        let mut query = vec![
            ("page[size]", "100".to_string()),
            ("sort", "updated".to_string()),
        ];
        if let Some(f) = filter {
            query.push(("filter", f));
        }
        let mut next = "/api/profiles".to_string();
        loop {
            let page = self.client.get(&next, &query).await?;
            let data = page
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| self.client.protocol("profiles answer without data".into()))?;
            let mut units = Vec::with_capacity(data.len());
            for r in data {
                let unit = self.unit(r)?;
                if until.is_none_or(|(a, b)| unit.updated_at_us >= a && unit.updated_at_us < b) {
                    units.push(unit);
                }
            }
            if pages.send(Ok(units)).await.is_err() {
                return Ok(());
            }
            match page.pointer("/links/next").and_then(Value::as_str) {
                Some(url) => {
                    next = url.to_string();
                    query.clear();
                }
                None => return Ok(()),
            }
        }
    }
}

impl Profiles {
    fn unit(&self, record: &Value) -> Result<Unit> {
        let key = record
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| self.client.protocol("profile without an id".into()))?
            .to_string();
        let updated = record
            .pointer("/attributes/updated")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| {
                self.client
                    .protocol(format!("profile {key}: `updated` is not an RFC 3339 time"))
            })?;
        Ok(Unit {
            key,
            updated_at_us: updated.timestamp_micros(),
            rows: vec![(PROFILE_ENTITIES[0], record.clone())],
        })
    }
}
