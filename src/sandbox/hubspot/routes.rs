//! HTTP wiring: the API routes behind bearer auth and the rate limiter, request
//! parsing into HubSpot-shaped errors (never axum's plain-text rejections), and the
//! unauthenticated admin routes under `/_sandbox/hubspot/`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::errors::{self, ApiError, json_response};
use super::properties::issues_to_error;
use super::rate_limit::{DAILY_LIMIT, Decision};
use super::store::DEFAULT_READ_PROPS;
use super::{HubSpot, batch, lock, search};

type Hs = State<Arc<HubSpot>>;

/// Default and largest page of the list endpoint.
const LIST_DEFAULT: usize = 10;
const LIST_MAX: usize = 100;

/// Prefixes the contact routes are served under: legacy v3 and date-versioned.
const OBJECT_PREFIXES: &[&str] = &["/crm/v3/objects/contacts", "/crm/objects/2026-03/contacts"];
const PROPERTY_PREFIXES: &[&str] = &[
    "/crm/v3/properties/contacts",
    "/crm/properties/2026-03/contacts",
];

pub(super) fn router(hs: Arc<HubSpot>) -> Router {
    let mut api = Router::new();
    for p in OBJECT_PREFIXES {
        api = api
            .route(p, get(list).post(create_one))
            .route(&format!("{p}/search"), post(search_handler))
            .route(&format!("{p}/batch/{{op}}"), post(batch_handler))
            .route(
                &format!("{p}/{{id}}"),
                get(get_one).patch(update_one).delete(archive_one),
            );
    }
    for p in PROPERTY_PREFIXES {
        api = api
            .route(p, get(list_properties).post(create_property))
            .route(&format!("{p}/{{name}}"), get(get_property));
    }
    let api = api.route_layer(middleware::from_fn_with_state(hs.clone(), guard));
    let admin = Router::new()
        .route("/_sandbox/hubspot/state", get(admin_state))
        .route("/_sandbox/hubspot/reset", post(admin_reset))
        .route("/_sandbox/hubspot/contacts/{id}/edit", post(admin_edit))
        .route("/_sandbox/hubspot/webhook-url", post(admin_webhook_url))
        .route("/_sandbox/hubspot/webhooks", get(admin_deliveries));
    api.merge(admin).with_state(hs)
}

fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| bool::from(t.trim().as_bytes().ct_eq(token.as_bytes())))
}

/// Auth, then rate limit, then the handler; limit headers go on every admitted
/// response.
async fn guard(State(hs): Hs, req: Request, next: Next) -> Response {
    if !bearer_ok(req.headers(), &hs.opts.token) {
        return ApiError::unauthorized(
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
        .into_response();
    }
    let is_search = req.uri().path().ends_with("/search");
    let decision = lock(&hs.limiter).check(is_search, Instant::now(), chrono::Utc::now());
    let max = hs.opts.requests_per_10s;
    let limited = |body: Value, remaining: bool| {
        let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
        if remaining {
            set_limit_headers(resp.headers_mut(), max, 0, None);
        }
        resp
    };
    match decision {
        Decision::TenSecondly => limited(errors::ten_secondly_body(), true),
        Decision::SearchSecondly => limited(errors::search_secondly_body(), false),
        Decision::Daily => limited(errors::daily_body(), true),
        Decision::Allowed {
            max,
            remaining,
            daily_remaining,
        } => {
            let mut resp = next.run(req).await;
            set_limit_headers(resp.headers_mut(), max, remaining, Some(daily_remaining));
            resp
        }
    }
}

fn set_limit_headers(h: &mut HeaderMap, max: u32, remaining: u32, daily_remaining: Option<u64>) {
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("X-HubSpot-RateLimit-Interval-Milliseconds", "10000".into());
    put("X-HubSpot-RateLimit-Max", max.to_string());
    put("X-HubSpot-RateLimit-Remaining", remaining.to_string());
    put("X-HubSpot-RateLimit-Daily", DAILY_LIMIT.to_string());
    if let Some(d) = daily_remaining {
        put("X-HubSpot-RateLimit-Daily-Remaining", d.to_string());
    }
}

/// Parses a JSON request body, answering HubSpot's errors for a wrong content
/// type or malformed JSON.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().contains("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "VALIDATION_ERROR",
            format!("Content type '{ct}' not supported; use application/json"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| errors::invalid_json(&e))
}

/// Query parameters in order; repeated keys are kept.
fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn query_one<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `properties=a,b&properties=c` → `[a, b, c]`, or the default set.
fn query_props(pairs: &[(String, String)]) -> Vec<String> {
    let props: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if props.is_empty() {
        DEFAULT_READ_PROPS.iter().map(|s| s.to_string()).collect()
    } else {
        props
    }
}

fn respond(result: Result<(StatusCode, Value), ApiError>) -> Response {
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => e.into_response(),
    }
}

async fn list(
    State(hs): Hs,
    headers: HeaderMap,
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(&raw);
    respond((|| {
        let limit = match query_one(&pairs, "limit") {
            None => LIST_DEFAULT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=LIST_MAX).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "limit must be an integer between 1 and {LIST_MAX}, got '{s}'"
                    ))
                })?,
        };
        let after = match query_one(&pairs, "after") {
            None | Some("") => 0,
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| ApiError::validation(format!("Invalid after cursor '{s}'")))?,
        };
        let archived = query_one(&pairs, "archived") == Some("true");
        let props = query_props(&pairs);
        let store = lock(&hs.store);
        let mut page: Vec<&super::store::Contact> = Vec::with_capacity(limit + 1);
        if archived {
            page.extend(
                store
                    .all()
                    .filter(|c| c.id >= after && c.archived_at.is_some())
                    .take(limit + 1),
            );
        } else {
            page.extend(store.iter_from(after).take(limit + 1));
        }
        let next = (page.len() > limit).then(|| page[limit].id);
        page.truncate(limit);
        let mut body =
            json!({ "results": page.iter().map(|c| c.to_json(&props)).collect::<Vec<_>>() });
        if let Some(next) = next {
            body["paging"] = json!({ "next": {
                "after": next.to_string(),
                "link": next_link(&headers, uri.path(), &pairs, next),
            }});
        }
        Ok((StatusCode::OK, body))
    })())
}

fn next_link(headers: &HeaderMap, path: &str, pairs: &[(String, String)], after: u64) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "after") {
        q.append_pair(k, v);
    }
    q.append_pair("after", &after.to_string());
    format!("http://{host}{path}?{}", q.finish())
}

async fn get_one(State(hs): Hs, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let pairs = query_pairs(&raw);
    let props = query_props(&pairs);
    let store = lock(&hs.store);
    respond(
        store
            .resolve(query_one(&pairs, "idProperty"), &id)
            .and_then(|found| {
                found.ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Object not found.  objectId are usually numeric. id={id}"
                    ))
                })
            })
            .map(|found| (StatusCode::OK, store.contact_json(found, &props))),
    )
}

fn properties_of(body: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    body.get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::validation("Some required fields were not set: [properties]"))
}

async fn create_one(State(hs): Hs, headers: HeaderMap, body: Bytes) -> Response {
    respond((|| {
        let body = json_body(&headers, &body)?;
        let mut store = lock(&hs.store);
        let props = store
            .schema
            .validate_write(properties_of(&body)?)
            .map_err(|i| issues_to_error(&i))?;
        if let Some((prop, owner)) = store.unique_conflict(&props, None) {
            let msg = if prop == "email" {
                format!("Contact already exists. Existing ID: {owner}")
            } else {
                format!("A contact with this {prop} already exists. Existing ID: {owner}")
            };
            return Err(ApiError::conflict(msg).with_context("existingId", vec![owner.to_string()]));
        }
        let names: Vec<String> = props.keys().cloned().collect();
        let id = store.create(props);
        Ok((StatusCode::CREATED, store.contact_json(id, &names)))
    })())
}

async fn update_one(
    State(hs): Hs,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = query_pairs(&raw);
    respond((|| {
        let body = json_body(&headers, &body)?;
        let mut store = lock(&hs.store);
        let target = store
            .resolve(query_one(&pairs, "idProperty"), &id)?
            .ok_or_else(|| ApiError::not_found(format!("resource not found: {id}")))?;
        let props = store
            .schema
            .validate_write(properties_of(&body)?)
            .map_err(|i| issues_to_error(&i))?;
        if let Some((prop, owner)) = store.unique_conflict(&props, Some(target)) {
            return Err(ApiError::conflict(format!(
                "A contact with this {prop} already exists. Existing ID: {owner}"
            )));
        }
        let names: Vec<String> = props.keys().cloned().collect();
        store.update(target, &props);
        Ok((StatusCode::OK, store.contact_json(target, &names)))
    })())
}

async fn archive_one(State(hs): Hs, Path(id): Path<String>) -> Response {
    if let Ok(n) = id.trim().parse::<u64>() {
        lock(&hs.store).archive(n);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn batch_handler(
    State(hs): Hs,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut store = lock(&hs.store);
    match op.as_str() {
        "read" => respond(batch::read(&store, &body)),
        "create" => respond(batch::create(&mut store, &body)),
        "update" => respond(batch::update(&mut store, &body)),
        "upsert" => respond(batch::upsert(&mut store, &body)),
        "archive" => match batch::archive(&mut store, &body) {
            Ok(status) => status.into_response(),
            Err(e) => e.into_response(),
        },
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unknown batch operation '{op}'"),
        )
        .into_response(),
    }
}

async fn search_handler(State(hs): Hs, headers: HeaderMap, body: Bytes) -> Response {
    respond(json_body(&headers, &body).and_then(|b| {
        let store = lock(&hs.store);
        search::search(&store, &b).map(|v| (StatusCode::OK, v))
    }))
}

async fn list_properties(State(hs): Hs) -> Response {
    let store = lock(&hs.store);
    let results: Vec<Value> = store.schema.all().map(|p| p.to_json()).collect();
    json_response(StatusCode::OK, &json!({ "results": results }))
}

async fn get_property(State(hs): Hs, Path(name): Path<String>) -> Response {
    let store = lock(&hs.store);
    match store.schema.get(&name) {
        Some(p) => json_response(StatusCode::OK, &p.to_json()),
        None => ApiError::not_found(format!(
            "Unable to find property {name} for object type 0-1"
        ))
        .into_response(),
    }
}

async fn create_property(State(hs): Hs, headers: HeaderMap, body: Bytes) -> Response {
    respond(json_body(&headers, &body).and_then(|b| {
        let mut store = lock(&hs.store);
        store
            .schema
            .create(&b)
            .map(|p| (StatusCode::CREATED, p.to_json()))
    }))
}

async fn admin_state(State(hs): Hs) -> Response {
    json_response(StatusCode::OK, &hs.state_json())
}

async fn admin_reset(State(hs): Hs) -> Response {
    hs.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_deliveries(State(hs): Hs) -> Response {
    json_response(StatusCode::OK, &hs.webhook_deliveries())
}

async fn admin_webhook_url(State(hs): Hs, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => {
            hs.set_webhook_url(v.get("url").and_then(Value::as_str).map(str::to_string));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => errors::invalid_json(&e).into_response(),
    }
}

/// Body: `{"properties": {...}}` or the property map itself.
async fn admin_edit(State(hs): Hs, Path(id): Path<String>, body: Bytes) -> Response {
    respond((|| {
        let v: Value = serde_json::from_slice(&body).map_err(|e| errors::invalid_json(&e))?;
        let props = match v.get("properties").and_then(Value::as_object) {
            Some(p) => p.clone(),
            None => v
                .as_object()
                .cloned()
                .ok_or_else(|| ApiError::validation("Body must be a JSON object of properties"))?,
        };
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| ApiError::not_found(format!("Contact {id} does not exist")))?;
        let (contact, events) = hs.edit_contact(id, &props)?;
        Ok((
            StatusCode::OK,
            json!({ "contact": contact, "events": events }),
        ))
    })())
}
