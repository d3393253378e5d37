//! The GraphQL Admin API (`POST /admin/api/{version}/graphql.json`), the subset a
//! bulk extractor needs, with Shopify's cost throttle in `extensions.cost`.
//!
//! Supported root fields:
//! - `mutation { bulkOperationRunQuery(query: String!, groupObjects: Boolean) { bulkOperation { … } userErrors { field message } } }`
//!   where the inner query has one root connection, `customers` or `orders`, with an
//!   optional `query:` search filter on `updated_at` / `created_at` / `id` (see
//!   `search`), selecting fields listed in `schema` (nested connections up to 2 levels:
//!   `lineItems`, `refunds { refundLineItems transactions orderAdjustments }`).
//! - `mutation { bulkOperationCancel(id: ID!) { bulkOperation { … } userErrors { … } } }`
//! - `query { node(id: "gid://shopify/BulkOperation/…") { ... on BulkOperation { … } } }`
//! - `query { currentBulkOperation(type: QUERY) { … } }`
//! - `query { shop { id name myshopifyDomain currencyCode } }`
//!
//! BulkOperation fields: `id status errorCode createdAt completedAt objectCount
//! rootObjectCount fileSize url partialDataUrl query type` (counts and size are
//! strings, as `UnsignedInt64` is). Variables (`$name`) are resolved. Any other root
//! field gets Shopify's `undefinedField` error; named fragments and directives are
//! refused. Each root field costs 10 points (mutations) or 1 (queries); a request
//! the bucket cannot cover answers THROTTLED (HTTP 200 by default, or 429).

pub mod jsonl;
pub mod names;
pub mod parse;
pub mod resolve;
pub mod schema;
pub mod search;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use self::parse::{Field, GValue, OpKind, fields_for};
use super::Shopify;
use super::bulk::{Operation, Status};
use super::model::fmt_ts_utc;

/// The GraphQL cost bucket: `maximumAvailable` points, refilled at `restoreRate`/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostConfig {
    pub maximum_available: f64,
    pub restore_rate: f64,
    /// Status of a THROTTLED answer: 200 (most observed) or 429.
    pub throttle_status: u16,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            maximum_available: 2000.0,
            restore_rate: 100.0,
            throttle_status: 200,
        }
    }
}

pub struct CostBucket {
    cfg: CostConfig,
    state: Mutex<(f64, Instant)>,
}

impl CostBucket {
    pub fn new(cfg: CostConfig) -> CostBucket {
        CostBucket {
            cfg,
            state: Mutex::new((cfg.maximum_available, Instant::now())),
        }
    }

    /// Charge `cost`; Ok or Err carries the points left afterwards (or now).
    fn charge(&self, cost: f64) -> Result<f64, f64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.cfg.restore_rate)
            .min(self.cfg.maximum_available);
        s.1 = now;
        if s.0 < cost {
            return Err(s.0);
        }
        s.0 -= cost;
        Ok(s.0)
    }

    fn status(&self, available: f64) -> Value {
        json!({
            "maximumAvailable": self.cfg.maximum_available,
            "currentlyAvailable": available.floor(),
            "restoreRate": self.cfg.restore_rate,
        })
    }
}

fn error(message: impl Into<String>) -> Value {
    json!({"message": message.into(), "locations": []})
}

pub async fn handle(shop: &Arc<Shopify>, version: &str, body: &[u8]) -> Response {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"errors": {"query": "Required parameter missing or invalid"}})),
            )
                .into_response();
        }
    };
    let Some(query) = req["query"].as_str() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": {"query": "Required parameter missing or invalid"}})),
        )
            .into_response();
    };
    let vars = req.get("variables").cloned().unwrap_or(Value::Null);
    let op = match parse::parse(query, req["operationName"].as_str()) {
        Ok(op) => op,
        Err(e) => return Json(json!({"errors": [error(e)]})).into_response(),
    };
    let (type_name, known): (&str, &[&str]) = match op.kind {
        OpKind::Query => ("QueryRoot", &["node", "currentBulkOperation", "shop"]),
        OpKind::Mutation => (
            "Mutation",
            &["bulkOperationRunQuery", "bulkOperationCancel"],
        ),
    };
    let roots = fields_for(&op.selections, type_name);
    if let Some(bad) = roots
        .iter()
        .find(|f| !known.contains(&f.name.as_str()) && f.name != "__typename")
    {
        let e = json!({
            "message": format!("Field '{}' doesn't exist on type '{type_name}'", bad.name),
            "locations": [],
            "path": [op.kind_name(), bad.name],
            "extensions": {"code": "undefinedField", "typeName": type_name, "fieldName": bad.name},
        });
        return Json(json!({"errors": [e]})).into_response();
    }
    let cost: f64 = roots
        .iter()
        .map(|f| {
            if op.kind == OpKind::Mutation && f.name != "__typename" {
                10.0
            } else {
                1.0
            }
        })
        .sum();
    let available = match shop.cost.charge(cost) {
        Ok(a) => a,
        Err(a) => {
            let body = json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": shop.cost.status(a)}},
            });
            let status =
                StatusCode::from_u16(shop.cost.cfg.throttle_status).unwrap_or(StatusCode::OK);
            return (status, Json(body)).into_response();
        }
    };
    let mut data = Map::new();
    for f in roots {
        let v = match f.name.as_str() {
            "__typename" => Value::String(type_name.into()),
            "bulkOperationRunQuery" => run_query(shop, version, f, &vars),
            "bulkOperationCancel" => cancel(shop, f, &vars),
            "node" => {
                let id = f.arg("id").map(|v| v.to_json(&vars)).unwrap_or(Value::Null);
                let op = id
                    .as_str()
                    .and_then(|s| s.strip_prefix("gid://shopify/BulkOperation/"))
                    .and_then(|s| s.parse().ok())
                    .and_then(|id| shop.bulk.get(id));
                op.map(|o| bulk_json(shop, &o, f)).unwrap_or(Value::Null)
            }
            "currentBulkOperation" => shop
                .bulk
                .current()
                .map(|o| bulk_json(shop, &o, f))
                .unwrap_or(Value::Null),
            _ => shop_json(shop, f),
        };
        data.insert(f.key().into(), v);
    }
    Json(json!({
        "data": data,
        "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": shop.cost.status(available)}},
    }))
    .into_response()
}

impl parse::Operation {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            OpKind::Query => "query",
            OpKind::Mutation => "mutation",
        }
    }
}

fn shop_json(shop: &Shopify, f: &Field) -> Value {
    shop.read(|s| {
        let mut m = Map::new();
        for sf in fields_for(&f.selections, "Shop") {
            let v: Value = match sf.name.as_str() {
                "id" => format!("gid://shopify/Shop/{}", s.shop.id).into(),
                "name" => s.shop.name.clone().into(),
                "myshopifyDomain" => s.shop.domain().into(),
                "currencyCode" => s.shop.currency.code().into(),
                "__typename" => "Shop".into(),
                _ => Value::Null,
            };
            m.insert(sf.key().into(), v);
        }
        Value::Object(m)
    })
}

fn bulk_json(shop: &Shopify, o: &Operation, f: &Field) -> Value {
    let mut m = Map::new();
    for sf in fields_for(&f.selections, "BulkOperation") {
        let done = o.status == Status::Completed;
        let v: Value = match sf.name.as_str() {
            "__typename" => "BulkOperation".into(),
            "id" => format!("gid://shopify/BulkOperation/{}", o.id).into(),
            "status" => o.status.as_str().into(),
            "errorCode" => o.error_code.map_or(Value::Null, Value::from),
            "createdAt" => o.created_at.clone().into(),
            "completedAt" => o
                .completed_at
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
            "objectCount" => o.object_count.to_string().into(),
            "rootObjectCount" => o.root_object_count.to_string().into(),
            "fileSize" => {
                if done {
                    o.file_size.to_string().into()
                } else {
                    Value::Null
                }
            }
            "url" => {
                if done && o.object_count > 0 {
                    format!("{}/_sandbox/shopify/bulk/{}.jsonl", shop.base_url, o.id).into()
                } else {
                    Value::Null
                }
            }
            "partialDataUrl" => Value::Null,
            "query" => o.query.clone().into(),
            "type" => "QUERY".into(),
            _ => Value::Null,
        };
        m.insert(sf.key().into(), v);
    }
    Value::Object(m)
}

fn payload(shop: &Shopify, f: &Field, op: Option<&Operation>, user_errors: Vec<Value>) -> Value {
    let mut m = Map::new();
    for sf in fields_for(&f.selections, "") {
        let v = match sf.name.as_str() {
            "bulkOperation" => op.map(|o| bulk_json(shop, o, sf)).unwrap_or(Value::Null),
            "userErrors" => Value::Array(user_errors.clone()),
            _ => Value::Null,
        };
        m.insert(sf.key().into(), v);
    }
    Value::Object(m)
}

fn user_error(field: Option<&str>, message: impl Into<String>) -> Value {
    json!({"field": field.map(|f| vec![f]), "message": message.into()})
}

/// Concurrent bulk queries allowed: 5 from API 2026-01 on, 1 before.
fn concurrency(version: &str) -> usize {
    if version == "unstable" || version >= "2026-01" {
        5
    } else {
        1
    }
}

fn run_query(shop: &Arc<Shopify>, version: &str, f: &Field, vars: &Value) -> Value {
    let inner = match f.arg("query").map(|v| v.to_json(vars)) {
        Some(Value::String(s)) => s,
        _ => {
            return payload(
                shop,
                f,
                None,
                vec![user_error(Some("query"), "query is required")],
            );
        }
    };
    let plan = match plan(&inner, vars) {
        Ok(p) => p,
        Err(e) => {
            return payload(
                shop,
                f,
                None,
                vec![user_error(
                    Some("query"),
                    format!("Invalid bulk query: {e}"),
                )],
            );
        }
    };
    if let Some(cur) = shop
        .bulk
        .current()
        .filter(|_| shop.bulk.running() >= concurrency(version))
    {
        let msg = format!(
            "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/{}.",
            cur.id
        );
        return payload(shop, f, None, vec![user_error(None, msg)]);
    }
    let op = Operation {
        id: 0,
        status: Status::Created,
        query: inner,
        created_at: fmt_ts_utc(chrono::Utc::now().timestamp()),
        completed_at: None,
        object_count: 0,
        root_object_count: 0,
        file_size: 0,
        error_code: None,
        result: None,
    };
    let op = shop.bulk.create(op);
    spawn_runner(shop.clone(), op.id, plan);
    payload(shop, f, Some(&op), vec![])
}

/// A validated bulk query: its root connection and search filter.
struct Plan {
    root: Field,
    filter: search::Filter,
}

fn plan(inner: &str, vars: &Value) -> Result<Plan, String> {
    let op = parse::parse(inner, None)?;
    if op.kind != OpKind::Query {
        return Err("bulk queries must be queries".into());
    }
    let roots = fields_for(&op.selections, "QueryRoot");
    let [root] = roots.as_slice() else {
        return Err(
            "the sandbox supports exactly one root connection (customers or orders)".into(),
        );
    };
    let Some(schema::Kind::Conn(ty)) = schema::kind("QueryRoot", &root.name) else {
        return Err(format!(
            "Field '{}' doesn't exist on type 'QueryRoot'",
            root.name
        ));
    };
    let node = schema::node_selection(root)
        .ok_or("the root connection must select edges { node } or nodes")?;
    schema::validate(ty, node, 1)?;
    let filter = match root.arg("query").map(|v| v.to_json(vars)) {
        Some(Value::String(q)) => search::parse(&q)?,
        _ => search::Filter::default(),
    };
    if let Some(GValue::Var(v)) = root.arg("query")
        && vars.get(v).is_none()
    {
        return Err(format!("Variable ${v} is not defined"));
    }
    Ok(Plan {
        root: (*root).clone(),
        filter,
    })
}

fn spawn_runner(shop: Arc<Shopify>, id: u64, plan: Plan) {
    tokio::spawn(async move {
        let step = shop.opts.bulk_step;
        tokio::time::sleep(step).await;
        let started = shop.bulk.update(id, |o| {
            if o.status == Status::Created {
                o.status = Status::Running;
            }
        });
        if started.is_none_or(|o| o.status != Status::Running) {
            return;
        }
        let s = shop.clone();
        let buffers = shop.bulk.buffers();
        let rendered = tokio::task::spawn_blocking(move || {
            s.read(|store| {
                let node = schema::node_selection(&plan.root).unwrap_or(&[]);
                let updated = s.order_updated_at(store);
                jsonl::bulk_jsonl(&buffers, &updated, store, &plan.root, node, &plan.filter)
            })
        })
        .await;
        tokio::time::sleep(step).await;
        let limit = shop.opts.bulk_max_objects;
        // Moved into the operation, not copied: a large export is hundreds of MB.
        let mut rendered = Some(rendered);
        shop.bulk.update(id, |o| {
            o.completed_at = Some(fmt_ts_utc(chrono::Utc::now().timestamp()));
            match (rendered.take(), o.status) {
                (_, Status::Canceling) => o.status = Status::Canceled,
                (Some(Ok((_, count, _))), _) if limit > 0 && count > limit => {
                    o.status = Status::Failed;
                    o.error_code = Some("TIMEOUT");
                }
                (Some(Ok((bytes, count, roots))), _) => {
                    o.status = Status::Completed;
                    o.object_count = count;
                    o.root_object_count = roots;
                    o.file_size = bytes.len() as u64;
                    o.result = Some(shop.bulk.freeze(bytes));
                }
                (_, _) => {
                    o.status = Status::Failed;
                    o.error_code = Some("INTERNAL_SERVER_ERROR");
                }
            }
        });
        shop.bulk.expire(shop.opts.bulk_keep_results.max(1));
    });
}

fn cancel(shop: &Shopify, f: &Field, vars: &Value) -> Value {
    let id = f.arg("id").map(|v| v.to_json(vars)).unwrap_or(Value::Null);
    let Some(id) = id
        .as_str()
        .and_then(|s| s.strip_prefix("gid://shopify/BulkOperation/"))
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return payload(
            shop,
            f,
            None,
            vec![user_error(Some("id"), "Bulk operation does not exist")],
        );
    };
    let Some(current) = shop.bulk.get(id) else {
        return payload(
            shop,
            f,
            None,
            vec![user_error(Some("id"), "Bulk operation does not exist")],
        );
    };
    if current.status.finished() {
        let msg = format!(
            "A bulk operation cannot be canceled when it is {}",
            current.status.as_str().to_lowercase()
        );
        return payload(shop, f, Some(&current), vec![user_error(None, msg)]);
    }
    let op = shop.bulk.update(id, |o| {
        o.status = if o.status == Status::Created {
            Status::Canceled
        } else {
            Status::Canceling
        };
    });
    payload(shop, f, op.as_ref(), vec![])
}
