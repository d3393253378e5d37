//! `POST /api/events` (202, validated, deduplicated) and `GET /api/events` for
//! inspection. Dedupe follows Klaviyo's rule: for one profile and metric only the
//! first event with a given `unique_id` is recorded; without a `unique_id` the key
//! is the event time truncated to the second, so one event per profile, metric
//! and second.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::filter::{self, Cond, FValue};
use super::profiles::{
    Query, decode_cursor, encode_cursor, next_link, page_size, param, self_link,
};
use super::store::{Profiles, fmt_time, new_id, parse_write};

/// Longest metric name + 1 ("less than 128 characters").
pub const METRIC_NAME_LIMIT: usize = 128;
/// Most event properties.
pub const MAX_PROPERTIES: usize = 400;

const EVENT_FILTERS: &[(&str, &[&str])] = &[
    ("metric_id", &["equals"]),
    ("profile_id", &["equals"]),
    (
        "datetime",
        &[
            "greater-than",
            "greater-or-equal",
            "less-than",
            "less-or-equal",
        ],
    ),
];

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event id.
    pub id: String,
    /// Metric id.
    pub metric_id: String,
    /// Metric name.
    pub metric_name: String,
    /// Profile id.
    pub profile_id: String,
    /// Event time (whole seconds).
    pub time: DateTime<Utc>,
    /// Monetary value.
    pub value: Option<f64>,
    /// Value currency.
    pub value_currency: Option<String>,
    /// Caller's dedupe key.
    pub unique_id: Option<String>,
    /// Custom properties.
    pub properties: Map<String, Value>,
}

impl Event {
    fn to_resource(&self, base: &str) -> Value {
        let mut props = self.properties.clone();
        if let Some(v) = self.value {
            props.insert("$value".into(), json!(v));
        }
        json!({
            "type": "event",
            "id": self.id,
            "attributes": {
                "timestamp": self.time.timestamp(),
                "event_properties": props,
                "datetime": fmt_time(self.time),
                "uuid": self.unique_id,
            },
            "relationships": {
                "profile": {"data": {"type": "profile", "id": self.profile_id}},
                "metric": {"data": {"type": "metric", "id": self.metric_id}},
            },
            "links": {"self": format!("{base}/api/events/{}/", self.id)},
        })
    }

    /// Inspection form, with the metric name.
    pub fn to_state(&self) -> Value {
        json!({
            "id": self.id, "metric": self.metric_name, "metric_id": self.metric_id,
            "profile_id": self.profile_id, "time": fmt_time(self.time), "value": self.value,
            "value_currency": self.value_currency, "unique_id": self.unique_id, "properties": self.properties,
        })
    }
}

/// Recorded events, metrics and dedupe keys.
#[derive(Debug, Clone, Default)]
pub struct Events {
    /// Events in arrival order.
    pub list: Vec<Event>,
    /// Metric name → id.
    pub metrics: BTreeMap<String, String>,
    seen: HashSet<(String, String, String)>,
}

fn short_id(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

fn ptr(rest: &str) -> String {
    format!("/data/attributes/{rest}")
}

/// `POST /api/events`: validates, resolves or creates the profile, records the
/// event unless it is a duplicate. Returns whether it was recorded.
pub fn create(
    events: &mut Events,
    profiles: &mut Profiles,
    body: &Value,
) -> Result<bool, ApiError> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::invalid("'data' is a required field.", "/data"))?;
    if data.get("type").and_then(Value::as_str) != Some("event") {
        return Err(ApiError::invalid("The type must be 'event'.", "/data/type"));
    }
    let attrs = data
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::invalid("'attributes' is a required field.", "/data/attributes")
        })?;
    let properties = attrs
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid("'properties' is a required field.", &ptr("properties"))
        })?;
    if properties.len() > MAX_PROPERTIES {
        return Err(ApiError::invalid(
            format!(
                "Events may have at most {MAX_PROPERTIES} properties; got {}.",
                properties.len()
            ),
            &ptr("properties"),
        ));
    }
    let metric_ptr = ptr("metric/data/attributes/name");
    let name = attrs
        .get("metric")
        .and_then(|m| m.pointer("/data/attributes/name"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("'name' is a required field.", &metric_ptr))?;
    if name.chars().count() >= METRIC_NAME_LIMIT {
        return Err(ApiError::invalid(
            format!("Metric name must be less than {METRIC_NAME_LIMIT} characters."),
            &metric_ptr,
        ));
    }
    let now = Utc::now();
    let time = match attrs.get("time") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => parse_time(s).ok_or_else(|| {
            ApiError::invalid(format!("'{s}' is not a valid datetime."), &ptr("time"))
        })?,
        Some(_) => {
            return Err(ApiError::invalid(
                "'time' must be a datetime string.",
                &ptr("time"),
            ));
        }
    };
    let time = Utc
        .timestamp_opt(time.timestamp(), 0)
        .single()
        .unwrap_or(now);
    let earliest = Utc
        .with_ymd_and_hms(1990, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    if time <= earliest || time > now + Duration::days(365) {
        return Err(ApiError::invalid(
            "Event time must be after 1990-01-01 and no more than 1 year in the future.",
            &ptr("time"),
        ));
    }
    let value = match attrs.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            return Err(ApiError::invalid(
                "'value' must be a number.",
                &ptr("value"),
            ));
        }
    };
    let unique_id = match attrs.get("unique_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                "'unique_id' must be a string.",
                &ptr("unique_id"),
            ));
        }
    };
    let profile_data = attrs
        .get("profile")
        .and_then(|p| p.get("data"))
        .ok_or_else(|| ApiError::invalid("'profile' is a required field.", &ptr("profile")))?;
    let write = parse_write(profile_data, &ptr("profile/data"), true)?;
    let (profile_id, _) = profiles.upsert(&write)?;

    let dedupe = unique_id
        .clone()
        .unwrap_or_else(|| time.timestamp().to_string());
    if !events
        .seen
        .insert((profile_id.clone(), name.to_string(), dedupe))
    {
        return Ok(false);
    }
    let metric_id = events
        .metrics
        .entry(name.to_string())
        .or_insert_with(|| short_id(6))
        .clone();
    profiles.touch_event(&profile_id, time);
    events.list.push(Event {
        id: new_id(),
        metric_id,
        metric_name: name.to_string(),
        profile_id,
        time,
        value,
        value_currency: attrs
            .get("value_currency")
            .and_then(Value::as_str)
            .map(str::to_string),
        unique_id,
        properties,
    });
    Ok(true)
}

fn matches(e: &Event, c: &Cond) -> bool {
    match (c.field.as_str(), &c.value) {
        ("metric_id", v) => v.as_str() == Some(e.metric_id.as_str()),
        ("profile_id", v) => v.as_str() == Some(e.profile_id.as_str()),
        ("datetime", FValue::Time(t)) => match c.op.as_str() {
            "greater-than" => e.time > *t,
            "greater-or-equal" => e.time >= *t,
            "less-than" => e.time < *t,
            "less-or-equal" => e.time <= *t,
            _ => false,
        },
        _ => false,
    }
}

/// `GET /api/events`: oldest first, keyset cursor on (time, id).
pub fn list(events: &Events, q: &Query, base: &str, path: &str) -> Result<Value, ApiError> {
    let size = page_size(q, 200, 200)?;
    let conds = match param(q, "filter") {
        Some(f) => filter::parse(f, EVENT_FILTERS)?,
        None => Vec::new(),
    };
    let after = match param(q, "page[cursor]") {
        Some(c) => {
            let v = decode_cursor(c)?;
            Some((
                v["t"].as_i64().unwrap_or(0),
                v["i"].as_str().unwrap_or("").to_string(),
            ))
        }
        None => None,
    };
    let mut hits: Vec<&Event> = events
        .list
        .iter()
        .filter(|e| conds.iter().all(|c| matches(e, c)))
        .filter(|e| {
            after
                .as_ref()
                .is_none_or(|(t, i)| (e.time.timestamp(), e.id.as_str()) > (*t, i.as_str()))
        })
        .collect();
    hits.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    let data: Vec<Value> = hits
        .iter()
        .take(size)
        .map(|e| e.to_resource(base))
        .collect();
    let next = (hits.len() > size).then(|| {
        let e = hits[size - 1];
        next_link(
            base,
            path,
            q,
            &encode_cursor(&json!({"t": e.time.timestamp(), "i": e.id})),
        )
    });
    Ok(
        json!({"data": data, "links": {"self": self_link(base, path, q), "next": next, "prev": Value::Null}}),
    )
}
