//! `POST /crm/v3/objects/contacts/search`: filter groups (OR of ANDs), typed
//! comparisons, sorts, offset paging, and HubSpot's limits: at most 5 groups, 10
//! filters per group, 25 filters in total, 200 results per page, and no paging
//! past the 10,000th result (400), which forces clients to re-anchor on
//! `lastmodifieddate` windows as they must with the real API.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::errors::ApiError;
use super::properties::{PropType, parse_datetime};
use super::store::{ALWAYS_PROPS, Contact, Store};

/// Most filter groups per request.
pub const MAX_GROUPS: usize = 5;
/// Most filters in one group.
pub const MAX_FILTERS_PER_GROUP: usize = 10;
/// Most filters across all groups.
pub const MAX_FILTERS: usize = 25;
/// Largest page.
pub const MAX_LIMIT: usize = 200;
/// No result beyond this offset can be reached.
pub const MAX_RESULTS: usize = 10_000;

/// Properties the free-text `query` looks in.
const TEXT_PROPS: &[&str] = &["firstname", "lastname", "email", "phone", "company"];

#[derive(Debug)]
struct Filter {
    prop: String,
    prop_type: PropType,
    op: String,
    /// The raw value (token operators match text); the typed values below are
    /// typed once per request, not for every contact on every page.
    value: Option<String>,
    value_key: Option<Key>,
    high_key: Option<Key>,
    value_keys: Vec<Key>,
}

#[derive(Debug)]
struct Sort {
    prop: String,
    prop_type: PropType,
    descending: bool,
}

/// A typed value for comparisons.
#[derive(Debug, PartialEq, PartialOrd)]
enum Key {
    Num(f64),
    Text(String),
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key(prop_type: PropType, raw: &str) -> Option<Key> {
    match prop_type {
        PropType::Number => raw.trim().parse::<f64>().ok().map(Key::Num),
        PropType::Date | PropType::DateTime => {
            parse_datetime(raw).map(|t| Key::Num(t.timestamp_millis() as f64))
        }
        _ => Some(Key::Text(raw.to_lowercase())),
    }
}

/// A contact's typed value; the computed timestamps and id are read directly
/// (incremental syncs filter and sort on them over every contact).
fn contact_key(c: &Contact, prop: &str, prop_type: PropType) -> Option<Key> {
    match prop {
        "lastmodifieddate" => Some(Key::Num(c.updated_at.timestamp_millis() as f64)),
        "createdate" => Some(Key::Num(c.created_at.timestamp_millis() as f64)),
        "hs_object_id" => Some(Key::Num(c.id as f64)),
        _ => c.properties.get(prop).and_then(|v| key(prop_type, v)),
    }
}

fn cmp_keys(a: &Key, b: &Key) -> Option<Ordering> {
    a.partial_cmp(b)
}

fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(pos) = rest.find(part) else {
                return false;
            };
            rest = &rest[pos + part.len()..];
        }
    }
    true
}

fn contains_token(value: &str, pattern: &str) -> bool {
    let value = value.to_lowercase();
    let pattern = pattern.to_lowercase();
    wildcard(&pattern, &value)
        || value
            .split(|c: char| !c.is_alphanumeric())
            .any(|tok| wildcard(&pattern, tok))
}

impl Filter {
    fn parse(store: &Store, v: &Value) -> Result<Self, ApiError> {
        let prop = v
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::validation("Some required fields were not set: [propertyName]")
            })?;
        let op = v
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("EQ")
            .to_string();
        let def = store.schema.get(prop).ok_or_else(|| {
            ApiError::validation(format!(
                "There was a problem with the request. Property \"{prop}\" does not exist"
            ))
        })?;
        let value = v.get("value").and_then(scalar);
        let high = v.get("highValue").and_then(scalar);
        let values: Vec<String> = v
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(scalar).collect())
            .unwrap_or_default();
        let needs_value = matches!(
            op.as_str(),
            "EQ" | "NEQ" | "LT" | "LTE" | "GT" | "GTE" | "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN"
        );
        let known = needs_value
            || matches!(
                op.as_str(),
                "BETWEEN" | "IN" | "NOT_IN" | "HAS_PROPERTY" | "NOT_HAS_PROPERTY"
            );
        if !known {
            return Err(ApiError::validation(format!(
                "Invalid operator '{op}' for property {prop}"
            )));
        }
        let missing = (needs_value && value.is_none())
            || (op == "BETWEEN" && (value.is_none() || high.is_none()))
            || (matches!(op.as_str(), "IN" | "NOT_IN") && values.is_empty());
        if missing {
            return Err(ApiError::validation(format!(
                "The operator {op} on property {prop} requires value{}",
                match op.as_str() {
                    "BETWEEN" => " and highValue",
                    "IN" | "NOT_IN" => "s",
                    _ => "",
                }
            )));
        }
        let typed = |raw: &String| {
            key(def.prop_type, raw).ok_or_else(|| {
                ApiError::validation(format!("'{raw}' is not a valid value for property {prop}"))
            })
        };
        Ok(Self {
            prop: prop.to_string(),
            prop_type: def.prop_type,
            value_key: value.as_ref().map(typed).transpose()?,
            high_key: high.as_ref().map(typed).transpose()?,
            value_keys: values.iter().map(typed).collect::<Result<_, _>>()?,
            value,
            op,
        })
    }

    fn matches(&self, c: &Contact) -> bool {
        let actual_key = contact_key(c, &self.prop, self.prop_type);
        let ord = |against: &Option<Key>| match (&actual_key, against) {
            (Some(a), Some(b)) => cmp_keys(a, b),
            _ => None,
        };
        match self.op.as_str() {
            "EQ" => ord(&self.value_key) == Some(Ordering::Equal),
            "NEQ" => ord(&self.value_key) != Some(Ordering::Equal),
            "LT" => ord(&self.value_key) == Some(Ordering::Less),
            "LTE" => matches!(ord(&self.value_key), Some(Ordering::Less | Ordering::Equal)),
            "GT" => ord(&self.value_key) == Some(Ordering::Greater),
            "GTE" => matches!(
                ord(&self.value_key),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            "BETWEEN" => {
                matches!(
                    ord(&self.value_key),
                    Some(Ordering::Greater | Ordering::Equal)
                ) && matches!(ord(&self.high_key), Some(Ordering::Less | Ordering::Equal))
            }
            "IN" | "NOT_IN" => {
                let hit = self.value_keys.iter().any(
                    |v| matches!(&actual_key, Some(a) if cmp_keys(a, v) == Some(Ordering::Equal)),
                );
                hit == (self.op == "IN")
            }
            "HAS_PROPERTY" => actual_key.is_some(),
            "NOT_HAS_PROPERTY" => actual_key.is_none(),
            "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => {
                let hit = match (c.value(&self.prop), &self.value) {
                    (Some(a), Some(p)) => contains_token(&a, p),
                    _ => false,
                };
                hit == (self.op == "CONTAINS_TOKEN")
            }
            _ => false,
        }
    }
}

fn parse_sorts(store: &Store, body: &Value) -> Result<Vec<Sort>, ApiError> {
    let Some(list) = body.get("sorts").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|s| {
            let (prop, descending) = match s {
                Value::String(s) => match s.strip_prefix('-') {
                    Some(p) => (p.to_string(), true),
                    None => (s.clone(), false),
                },
                Value::Object(o) => (
                    o.get("propertyName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    o.get("direction").and_then(Value::as_str) == Some("DESCENDING"),
                ),
                _ => (String::new(), false),
            };
            let def = store.schema.get(&prop).ok_or_else(|| {
                ApiError::validation(format!("Cannot sort by unknown property \"{prop}\""))
            })?;
            Ok(Sort {
                prop_type: def.prop_type,
                prop,
                descending,
            })
        })
        .collect()
}

fn compare(sorts: &[Sort], a: &Contact, b: &Contact) -> Ordering {
    for s in sorts {
        let ka = contact_key(a, &s.prop, s.prop_type);
        let kb = contact_key(b, &s.prop, s.prop_type);
        // Records without the value sort last in either direction.
        let ord = match (ka, kb) {
            (Some(x), Some(y)) => {
                let o = cmp_keys(&x, &y).unwrap_or(Ordering::Equal);
                if s.descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.id.cmp(&b.id)
}

/// `q` is the query trimmed and lowercased (once per request).
fn matches_query(c: &Contact, q: &str) -> bool {
    q.is_empty()
        || TEXT_PROPS.iter().any(|p| {
            c.value(p).is_some_and(|v| {
                let v = v.to_lowercase();
                v.starts_with(q)
                    || v.split(|ch: char| !ch.is_alphanumeric())
                        .any(|t| t.starts_with(q))
            })
        })
}

/// Runs a search request against the store.
pub fn search(store: &Store, body: &Value) -> Result<Value, ApiError> {
    let groups_raw = match body.get("filterGroups") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::validation("filterGroups must be an array")),
    };
    if groups_raw.len() > MAX_GROUPS {
        return Err(ApiError::validation(format!(
            "Too many filter groups: {} were provided, the limit is {MAX_GROUPS}.",
            groups_raw.len()
        )));
    }
    let mut total_filters = 0;
    let mut groups = Vec::new();
    for g in &groups_raw {
        let filters = g
            .get("filters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if filters.len() > MAX_FILTERS_PER_GROUP {
            return Err(ApiError::validation(format!(
                "Too many filters in a filter group: {} were provided, the limit is {MAX_FILTERS_PER_GROUP}.",
                filters.len()
            )));
        }
        total_filters += filters.len();
        let parsed = filters
            .iter()
            .map(|f| Filter::parse(store, f))
            .collect::<Result<Vec<_>, _>>()?;
        groups.push(parsed);
    }
    if total_filters > MAX_FILTERS {
        return Err(ApiError::validation(format!(
            "Too many filters: {total_filters} were provided across all filter groups, the limit is {MAX_FILTERS}."
        )));
    }
    let limit = match body.get("limit") {
        None | Some(Value::Null) => 10,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| ApiError::validation("limit must be a positive integer"))?
            as usize,
    };
    if limit > MAX_LIMIT {
        return Err(ApiError::validation(format!(
            "limit {limit} is too large; the maximum page size is {MAX_LIMIT}"
        )));
    }
    let after = match body.get("after").and_then(scalar) {
        None => 0,
        Some(s) if s.is_empty() => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::validation(format!("Invalid after cursor '{s}'")))?,
    };
    if after >= MAX_RESULTS {
        return Err(ApiError::validation(format!(
            "Search can return at most {MAX_RESULTS} results; after={after} is beyond that. Narrow the query (e.g. by lastmodifieddate) instead of paging further."
        ))
        .with_context("after", vec![after.to_string()]));
    }
    let sorts = parse_sorts(store, body)?;
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let props: Vec<String> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| ALWAYS_PROPS.iter().map(|s| s.to_string()).collect());
    let mut hits: Vec<&Contact> = store
        .iter_from(0)
        .filter(|c| groups.is_empty() || groups.iter().any(|g| g.iter().all(|f| f.matches(c))))
        .filter(|c| matches_query(c, &query))
        .collect();
    let total = hits.len();
    // Only the rows up to the end of this page need ordering (at most 10,200 of
    // them: `after` stops at 10,000); the order is total (ties fall to the id), so
    // selecting them first gives the page a full sort would.
    let end = (after + limit).min(total);
    if end < total {
        hits.select_nth_unstable_by(end, |a, b| compare(&sorts, a, b));
        hits.truncate(end);
    }
    hits.sort_by(|a, b| compare(&sorts, a, b));
    let page: Vec<Value> = hits
        .iter()
        .skip(after)
        .take(limit)
        .map(|c| c.to_json(&props))
        .collect();
    let mut out = json!({ "total": total, "results": page });
    let next = after + limit;
    if limit > 0 && next < total {
        out["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_tokens() {
        assert!(contains_token("alice@example.com", "*@example.com"));
        assert!(contains_token("Alice Smith", "smith"));
        assert!(!contains_token("Alice Smith", "bob"));
    }

    #[test]
    fn pages_hold_what_a_full_sort_gives() {
        use crate::sandbox::seed::SeedContact;
        use std::collections::BTreeMap;
        // Few distinct sort values, so most of the order comes from the id tie-break.
        let seed: Vec<SeedContact> = (0..257)
            .map(|i| SeedContact {
                properties: BTreeMap::from([
                    ("email".to_string(), format!("p{i}@example.com")),
                    ("firstname".to_string(), format!("n{}", (i * 7) % 5)),
                ]),
            })
            .collect();
        let store = Store::from_seed(&seed);
        let sorts = json!([{"propertyName": "firstname", "direction": "DESCENDING"}]);
        let mut expected: Vec<&Contact> = store.iter_from(0).collect();
        let parsed = parse_sorts(&store, &json!({ "sorts": sorts })).unwrap();
        expected.sort_by(|a, b| compare(&parsed, a, b));
        let expected: Vec<String> = expected.iter().map(|c| c.id.to_string()).collect();

        let mut seen = Vec::new();
        let mut after = 0usize;
        loop {
            let v = search(
                &store,
                &json!({"sorts": sorts, "limit": 10, "after": after.to_string()}),
            )
            .unwrap();
            assert_eq!(v["total"], 257);
            seen.extend(
                v["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_string()),
            );
            match v["paging"]["next"]["after"].as_str() {
                Some(next) => after = next.parse().unwrap(),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }
}
