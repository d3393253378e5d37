//! Admin routes that script the store (never rate-limited, never chaotic):
//! advance simulated time through the generator's stream, refund/cancel/fulfil an
//! order, edit or redact a customer, move stock, manage webhook subscriptions and
//! read their deliveries, and download bulk-operation results.
//!
//! - `GET  /_sandbox/shopify` — store counts and clock
//! - `POST /_sandbox/shopify/advance` `{"seconds": N}` or `{"events": N}`
//! - `POST /_sandbox/shopify/orders/{id}/refund` `{"full": bool, "lines": [[line_item_id, qty]], "shipping": bool, "note": str}`
//! - `POST /_sandbox/shopify/orders/{id}/cancel` `{"reason": str}`
//! - `POST /_sandbox/shopify/orders/{id}/fulfil` `{"close": bool}`
//! - `POST /_sandbox/shopify/customers/{id}` `{"first_name", "last_name", "email", "phone", "tags", "note", "accepts_marketing"}`
//! - `POST /_sandbox/shopify/customers/{id}/redact`
//! - `POST /_sandbox/shopify/inventory` `{"inventory_item_id", "location_id", "available"}`
//! - `GET|POST /_sandbox/webhooks` `{"topic", "address", "api_version"?}`, `DELETE /_sandbox/webhooks/{id}`
//! - `GET  /_sandbox/webhooks/deliveries`
//! - `GET  /_sandbox/shopify/bulk/{id}.jsonl`

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shopify;
use super::mutate::{self, CustomerPatch, MutateError, RefundSpec};

const DEFAULT_VERSION: &str = "2026-07";

pub fn router(shop: &Arc<Shopify>) -> Router {
    Router::new()
        .route("/_sandbox/shopify", get(state))
        .route("/_sandbox/shopify/advance", post(advance))
        .route("/_sandbox/shopify/orders/{id}/refund", post(refund))
        .route("/_sandbox/shopify/orders/{id}/cancel", post(cancel))
        .route("/_sandbox/shopify/orders/{id}/fulfil", post(fulfil))
        .route("/_sandbox/shopify/customers/{id}", post(update_customer))
        .route("/_sandbox/shopify/customers/{id}/redact", post(redact))
        .route("/_sandbox/shopify/inventory", post(inventory))
        .route("/_sandbox/shopify/bulk/{file}", get(bulk_file))
        .route("/_sandbox/webhooks", get(list_webhooks).post(subscribe))
        .route("/_sandbox/webhooks/deliveries", get(deliveries))
        .route("/_sandbox/webhooks/{id}", delete(unsubscribe))
        .with_state(shop.clone())
}

fn err(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

fn mutate_err(e: MutateError) -> Response {
    let status = match e {
        MutateError::NoCustomer(_) | MutateError::NoOrder(_) | MutateError::NoInventory(..) => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::CONFLICT,
    };
    err(status, e)
}

/// Parse an optional JSON body (empty = defaults).
fn body<T: for<'de> Deserialize<'de> + Default>(raw: &[u8]) -> Result<T, Box<Response>> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(raw).map_err(|e| {
        Box::new(err(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}"),
        ))
    })
}

fn done(shop: &Shopify, events: usize) -> Response {
    let mut v = shop.state_json();
    if let Value::Object(m) = &mut v {
        m.insert("events".into(), events.into());
    }
    Json(v).into_response()
}

async fn state(State(shop): State<Arc<Shopify>>) -> Json<Value> {
    Json(shop.state_json())
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Advance {
    seconds: Option<i64>,
    events: Option<u64>,
}

/// Bounds an admin call so a typo cannot wedge the server for minutes.
const MAX_EVENTS_PER_CALL: u64 = 1_000_000;
const MAX_SECONDS_PER_CALL: i64 = 400 * 86_400;

async fn advance(State(shop): State<Arc<Shopify>>, raw: axum::body::Bytes) -> Response {
    let a: Advance = match body(&raw) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if a.seconds
        .is_some_and(|s| !(0..=MAX_SECONDS_PER_CALL).contains(&s))
    {
        return err(
            StatusCode::BAD_REQUEST,
            format!("seconds must be between 0 and {MAX_SECONDS_PER_CALL}"),
        );
    }
    let r = shop.mutate(|store, stream| {
        let Some(stream) = stream.as_mut() else {
            return Err("this store has no generator stream (loaded from a file)".to_string());
        };
        let mut ev = Vec::new();
        for _ in 0..a.events.unwrap_or(0).min(MAX_EVENTS_PER_CALL) {
            ev.extend(stream.step(store));
        }
        if let Some(s) = a.seconds {
            let until = store.clock + s;
            ev.extend(stream.advance_to(store, until));
        }
        Ok(ev)
    });
    match r {
        Ok(n) => done(&shop, n),
        Err(e) => err(StatusCode::CONFLICT, e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RefundBody {
    full: bool,
    lines: Vec<(u64, u32)>,
    shipping: bool,
    note: Option<String>,
}

async fn refund(
    State(shop): State<Arc<Shopify>>,
    Path(id): Path<u64>,
    raw: axum::body::Bytes,
) -> Response {
    let b: RefundBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let spec = RefundSpec {
        full: b.full || (b.lines.is_empty() && !b.shipping),
        lines: b.lines,
        shipping: b.shipping,
        note: b.note,
    };
    match shop.mutate(|s, _| mutate::refund_order(s, id, &spec)) {
        Ok(n) => done(&shop, n),
        Err(e) => mutate_err(e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CancelBody {
    reason: Option<String>,
}

async fn cancel(
    State(shop): State<Arc<Shopify>>,
    Path(id): Path<u64>,
    raw: axum::body::Bytes,
) -> Response {
    let b: CancelBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let reason = match b.reason.as_deref() {
        Some("fraud") => "fraud",
        Some("inventory") => "inventory",
        Some("declined") => "declined",
        Some("other") => "other",
        _ => "customer",
    };
    match shop.mutate(|s, _| mutate::cancel_order(s, id, reason)) {
        Ok(n) => done(&shop, n),
        Err(e) => mutate_err(e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct FulfilBody {
    close: bool,
}

async fn fulfil(
    State(shop): State<Arc<Shopify>>,
    Path(id): Path<u64>,
    raw: axum::body::Bytes,
) -> Response {
    let b: FulfilBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match shop.mutate(|s, _| mutate::fulfil_order(s, id, b.close)) {
        Ok(n) => done(&shop, n),
        Err(e) => mutate_err(e),
    }
}

async fn update_customer(
    State(shop): State<Arc<Shopify>>,
    Path(id): Path<u64>,
    raw: axum::body::Bytes,
) -> Response {
    let patch: CustomerPatch = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match shop.mutate(|s, _| mutate::update_customer(s, id, &patch)) {
        Ok(n) => done(&shop, n),
        Err(e) => mutate_err(e),
    }
}

async fn redact(State(shop): State<Arc<Shopify>>, Path(id): Path<u64>) -> Response {
    match shop.mutate(|s, _| mutate::redact_customer(s, id)) {
        Ok(n) => done(&shop, n),
        Err(e) => mutate_err(e),
    }
}

#[derive(Default, Deserialize)]
struct InventoryBody {
    inventory_item_id: u64,
    location_id: u64,
    available: i64,
}

async fn inventory(State(shop): State<Arc<Shopify>>, raw: axum::body::Bytes) -> Response {
    let b: InventoryBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match shop
        .mutate(|s, _| mutate::set_inventory(s, b.inventory_item_id, b.location_id, b.available))
    {
        Ok(n) => done(&shop, n),
        Err(e) => mutate_err(e),
    }
}

async fn list_webhooks(State(shop): State<Arc<Shopify>>) -> Json<Value> {
    Json(json!({"webhooks": shop.webhooks.list_json()}))
}

#[derive(Default, Deserialize)]
struct SubscribeBody {
    topic: String,
    address: String,
    api_version: Option<String>,
}

async fn subscribe(State(shop): State<Arc<Shopify>>, raw: axum::body::Bytes) -> Response {
    let b: SubscribeBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let version = b.api_version.unwrap_or_else(|| DEFAULT_VERSION.into());
    match shop.webhooks.subscribe(&b.topic, &b.address, &version) {
        Ok(v) => (StatusCode::CREATED, Json(json!({"webhook": v}))).into_response(),
        Err(e) => err(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn unsubscribe(State(shop): State<Arc<Shopify>>, Path(id): Path<u64>) -> Response {
    if shop.webhooks.unsubscribe(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        err(StatusCode::NOT_FOUND, format!("webhook {id} not found"))
    }
}

async fn deliveries(State(shop): State<Arc<Shopify>>) -> Json<Value> {
    Json(shop.webhooks.records_json())
}

async fn bulk_file(State(shop): State<Arc<Shopify>>, Path(file): Path<String>) -> Response {
    let id = file
        .strip_suffix(".jsonl")
        .and_then(|s| s.parse::<u64>().ok());
    match id.and_then(|id| shop.bulk.result(id)) {
        Some(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jsonl"),
            );
            r
        }
        None => err(StatusCode::NOT_FOUND, "no such bulk operation result"),
    }
}
