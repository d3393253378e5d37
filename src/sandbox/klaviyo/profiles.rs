//! Profile endpoints: `POST /api/profile-import` (201 created / 200 updated),
//! `GET /api/profiles` (keyset cursor in `page[cursor]`, `page[size]` ≤ 100,
//! `filter`, `sort`, `fields[profile]`) and `GET /api/profiles/{id}`.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};

use super::errors::ApiError;
use super::filter::{self, Cond, FValue};
use super::store::{Profile, Profiles, parse_write};

/// Query parameters of a request, in order.
pub type Query = [(String, String)];

/// Field/operator pairs `GET /api/profiles` accepts in `filter`.
const PROFILE_FILTERS: &[(&str, &[&str])] = &[
    ("id", &["any", "equals"]),
    ("email", &["any", "equals"]),
    ("phone_number", &["any", "equals"]),
    ("external_id", &["any", "equals"]),
    ("created", &["greater-than", "less-than"]),
    ("updated", &["greater-than", "less-than"]),
];

/// Sort fields `GET /api/profiles` accepts.
const SORTS: &[&str] = &["id", "created", "updated", "email"];

/// Page size bounds.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 100;

/// Looks a query parameter up.
pub fn param<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Parses `page[size]` within `1..=max`.
pub fn page_size(q: &Query, default: usize, max: usize) -> Result<usize, ApiError> {
    match param(q, "page[size]") {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_param(
                    format!("Page size must be an integer between 1 and {max}; got '{s}'."),
                    "page[size]",
                )
            }),
    }
}

/// Encodes an opaque cursor.
pub fn encode_cursor(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(s: &str) -> Result<Value, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::invalid_param("Invalid page cursor.", "page[cursor]"))
}

/// The `links.next` URL: the same request with `page[cursor]` replaced.
pub fn next_link(base: &str, path: &str, q: &Query, cursor: &str) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q.iter().filter(|(k, _)| k != "page[cursor]") {
        ser.append_pair(k, v);
    }
    ser.append_pair("page[cursor]", cursor);
    format!("{base}{path}?{}", ser.finish())
}

/// The request URL, for `links.self`.
pub fn self_link(base: &str, path: &str, q: &Query) -> String {
    if q.is_empty() {
        return format!("{base}{path}");
    }
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        ser.append_pair(k, v);
    }
    format!("{base}{path}?{}", ser.finish())
}

/// `POST /api/profile-import`.
pub fn import(
    store: &mut Profiles,
    body: &Value,
    base: &str,
) -> Result<(StatusCode, Value), ApiError> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::invalid("'data' is a required field.", "/data"))?;
    if data.get("type").is_none() {
        return Err(ApiError::invalid(
            "'type' is a required field.",
            "/data/type",
        ));
    }
    let write = parse_write(data, "/data", true)?;
    let (id, created) = store.upsert(&write)?;
    let resource = store
        .get(&id)
        .map_or(Value::Null, |p| p.to_resource(base, None));
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        json!({ "data": resource, "links": {"self": format!("{base}/api/profile-import")} }),
    ))
}

/// A profile's value for a sort: instants as epoch microseconds (clamped at 0, as
/// the cursor's text has them), text borrowed from the profile. Built for every
/// matching profile on every page, so it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey<'a> {
    Micros(i64),
    Text(&'a str),
}

impl<'a> SortKey<'a> {
    fn of(p: &'a Profile, field: &str) -> Self {
        match field {
            "created" => Self::Micros(p.created.timestamp_micros().max(0)),
            "updated" => Self::Micros(p.updated.timestamp_micros().max(0)),
            "email" => Self::Text(p.field("email").unwrap_or("")),
            _ => Self::Text(&p.id),
        }
    }

    /// The key a cursor's text stands for, for a sort on `field`.
    fn from_cursor(field: &str, text: &'a str) -> Result<Self, ApiError> {
        match field {
            "created" | "updated" => text
                .parse()
                .map(Self::Micros)
                .map_err(|_| ApiError::invalid_param("Invalid page cursor.", "page[cursor]")),
            _ => Ok(Self::Text(text)),
        }
    }

    /// The cursor's text (read back by `from_cursor`; instants zero-padded, as
    /// cursors have always had them).
    fn cursor_text(&self) -> String {
        match self {
            Self::Micros(m) => format!("{m:020}"),
            Self::Text(t) => t.to_string(),
        }
    }
}

fn field_value(p: &Profile, field: &str) -> Option<String> {
    match field {
        "id" => Some(p.id.clone()),
        f => p.field(f).map(str::to_string),
    }
}

fn matches(p: &Profile, c: &Cond) -> bool {
    let eq = |v: &FValue| {
        let Some(actual) = field_value(p, &c.field) else {
            return false;
        };
        match v.as_str() {
            Some(s) if c.field == "email" => actual.eq_ignore_ascii_case(s.trim()),
            Some(s) => actual == s,
            None => false,
        }
    };
    match (c.op.as_str(), &c.value) {
        ("equals", v) => eq(v),
        ("any", FValue::List(vs)) => vs.iter().any(eq),
        (op, FValue::Time(t)) => {
            let actual = if c.field == "created" {
                p.created
            } else {
                p.updated
            };
            match op {
                "greater-than" => actual > *t,
                "less-than" => actual < *t,
                "greater-or-equal" => actual >= *t,
                "less-or-equal" => actual <= *t,
                _ => false,
            }
        }
        _ => false,
    }
}

/// `fields[profile]=a,b` → only those attributes.
fn sparse(q: &Query) -> Option<Vec<String>> {
    param(q, "fields[profile]").map(|s| s.split(',').map(|f| f.trim().to_string()).collect())
}

/// `GET /api/profiles`.
pub fn list(store: &Profiles, q: &Query, base: &str, path: &str) -> Result<Value, ApiError> {
    let size = page_size(q, PAGE_DEFAULT, PAGE_MAX)?;
    let conds = match param(q, "filter") {
        Some(f) => filter::parse(f, PROFILE_FILTERS)?,
        None => Vec::new(),
    };
    let sort = param(q, "sort").unwrap_or("id");
    let (field, desc) = match sort.strip_prefix('-') {
        Some(f) => (f, true),
        None => (sort, false),
    };
    if !SORTS.contains(&field) {
        return Err(ApiError::invalid_param(
            format!(
                "'{sort}' is not a valid sort field. Valid options are: {}.",
                SORTS.join(", ")
            ),
            "sort",
        ));
    }
    let cursor = match param(q, "page[cursor]") {
        Some(c) => {
            let v = decode_cursor(c)?;
            if v["s"] != sort {
                return Err(ApiError::invalid_param(
                    "The page cursor does not match the requested sort.",
                    "page[cursor]",
                ));
            }
            Some((
                v["k"].as_str().unwrap_or("").to_string(),
                v["i"].as_str().unwrap_or("").to_string(),
            ))
        }
        None => None,
    };
    let after = cursor
        .as_ref()
        .map(|(k, i)| SortKey::from_cursor(field, k).map(|k| (k, i.as_str())))
        .transpose()?;
    let keep = |p: &&Profile| conds.iter().all(|c| matches(p, c));
    // Ascending id and ascending updated are kept in order by the store: take one
    // page from the cursor on without a sort.
    let mut hits: Vec<(SortKey, &Profile)> = if field == "id" && !desc {
        let from = after.map_or("", |(_, i)| i);
        store
            .after_id(from)
            .filter(keep)
            .take(size + 1)
            .map(|p| (SortKey::Text(&p.id), p))
            .collect()
    } else if field == "updated" && !desc {
        let from = match after {
            Some((SortKey::Micros(m), id)) => Some((m, id)),
            _ => None,
        };
        store
            .after_updated(from)
            .filter(keep)
            .take(size + 1)
            .map(|p| (SortKey::of(p, field), p))
            .collect()
    } else {
        store
            .all()
            .filter(keep)
            .map(|p| (SortKey::of(p, field), p))
            .collect()
    };
    hits.retain(|(k, p)| match after {
        None => true,
        Some(there) => {
            let here = (*k, p.id.as_str());
            if desc { here < there } else { here > there }
        }
    });
    let order = |(ka, a): &(SortKey, &Profile), (kb, b): &(SortKey, &Profile)| {
        let o = (ka, &a.id).cmp(&(kb, &b.id));
        if desc { o.reverse() } else { o }
    };
    // Only the page and one look-ahead need ordering.
    if hits.len() > size + 1 {
        hits.select_nth_unstable_by(size, order);
        hits.truncate(size + 1);
    }
    hits.sort_by(order);
    let only = sparse(q);
    let page: Vec<Value> = hits
        .iter()
        .take(size)
        .map(|(_, p)| p.to_resource(base, only.as_deref()))
        .collect();
    let next = (hits.len() > size).then(|| {
        let (k, p) = &hits[size - 1];
        next_link(
            base,
            path,
            q,
            &encode_cursor(&json!({"s": sort, "k": k.cursor_text(), "i": p.id})),
        )
    });
    Ok(json!({
        "data": page,
        "links": {"self": self_link(base, path, q), "next": next, "prev": Value::Null},
    }))
}

/// `GET /api/profiles/{id}`.
pub fn get(store: &Profiles, id: &str, q: &Query, base: &str) -> Result<Value, ApiError> {
    let p = store
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("A profile with id {id} does not exist.")))?;
    Ok(json!({
        "data": p.to_resource(base, sparse(q).as_deref()),
        "links": {"self": format!("{base}/api/profiles/{id}/")},
    }))
}
