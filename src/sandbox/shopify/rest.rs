//! The Admin REST API: `/admin/api/{version}/…json`. Checks the access token (401
//! with Shopify's body otherwise), charges the leaky bucket, and serves customers,
//! orders (with refunds), products, inventory levels, counts, the shop and webhook
//! subscriptions. GraphQL (`graphql.json`) is handed to its own module and is
//! charged by query cost instead of the bucket.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::errors::ApiError;
use super::model::{Financial, Order, StoreData};
use super::pagination::{self, ListRequest, Sort};
use super::rate_limit::Admission;
use super::{Shopify, render};

pub fn router(shop: &Arc<Shopify>) -> Router {
    Router::new()
        .route("/admin/api/{version}/{*rest}", any(handle))
        .with_state(shop.clone())
}

/// `YYYY-MM` or `unstable`.
fn valid_version(v: &str) -> bool {
    let b = v.as_bytes();
    v == "unstable"
        || (b.len() == 7
            && b[4] == b'-'
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[5..].iter().all(u8::is_ascii_digit))
}

pub fn authorized(shop: &Shopify, headers: &HeaderMap) -> bool {
    let Some(got) = headers.get("x-shopify-access-token") else {
        return false;
    };
    got.as_bytes()
        .ct_eq(shop.opts.access_token.as_bytes())
        .into()
}

async fn handle(
    State(shop): State<Arc<Shopify>>,
    Path((version, rest)): Path<(String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !valid_version(&version) {
        return ApiError::not_found().into_response();
    }
    if !authorized(&shop, &headers) {
        return ApiError::unauthorized().into_response();
    }
    if rest == "graphql.json" && method == Method::POST {
        return super::graphql::handle(&shop, &version, &body).await;
    }
    let limit_header = match shop.bucket.admit(&shop.opts.access_token) {
        Admission::Throttled(wait, h) => return ApiError::throttled(wait, h).into_response(),
        Admission::Ok(h) => Some(h),
        Admission::Unlimited => None,
    };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let ctx = Ctx {
        shop: &shop,
        version: &version,
        pairs: &pairs,
    };
    let mut resp = match route(&ctx, &method, &rest, &body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(h) = limit_header.and_then(|h| HeaderValue::from_str(&h).ok()) {
        resp.headers_mut()
            .insert("x-shopify-shop-api-call-limit", h);
    }
    resp
}

struct Ctx<'a> {
    shop: &'a Arc<Shopify>,
    version: &'a str,
    pairs: &'a [(String, String)],
}

impl Ctx<'_> {
    fn url(&self, resource: &str) -> String {
        format!(
            "{}/admin/api/{}/{resource}.json",
            self.shop.base_url, self.version
        )
    }
    fn fields(&self) -> Option<Vec<String>> {
        self.pairs
            .iter()
            .find(|(k, _)| k == "fields")
            .map(|(_, v)| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
    }
}

/// Keep only the requested top-level fields (`fields=id,updated_at`).
fn project(v: Value, fields: &Option<Vec<String>>) -> Value {
    match (v, fields) {
        (Value::Object(m), Some(f)) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| f.contains(k))
                .collect::<Map<_, _>>(),
        ),
        (v, _) => v,
    }
}

const CUSTOMER_FILTERS: &[&str] = &[
    "ids",
    "since_id",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "order",
];
const ORDER_FILTERS: &[&str] = &[
    "ids",
    "since_id",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "status",
    "financial_status",
    "order",
];
const PRODUCT_FILTERS: &[&str] = &[
    "ids",
    "since_id",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "order",
];
const INVENTORY_FILTERS: &[&str] = &["inventory_item_ids", "location_ids", "updated_at_min"];

fn route(ctx: &Ctx, method: &Method, rest: &str, body: &[u8]) -> Result<Response, ApiError> {
    let Some(path) = rest.strip_suffix(".json") else {
        return Err(ApiError::not_found());
    };
    let segs: Vec<&str> = path.split('/').collect();
    let store = ctx.shop.store.read().unwrap_or_else(|p| p.into_inner());
    let id = |s: &str| s.parse::<u64>().map_err(|_| ApiError::not_found());
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["shop"]) => Ok(Json(json!({"shop": {
            "id": store.shop.id, "name": store.shop.name, "myshopify_domain": store.shop.domain(),
            "domain": store.shop.domain(), "currency": store.shop.currency.code(),
            "iana_timezone": "America/Bogota", "timezone": "(GMT-05:00) America/Bogota",
        }}))
        .into_response()),
        (Method::GET, ["customers"]) => list_customers(ctx, &store),
        (Method::GET, ["customers", "count"]) => {
            let req = pagination::parse("customers", ctx.pairs, CUSTOMER_FILTERS, false)?;
            let n = store
                .customers
                .iter()
                .filter(|c| req.filters.matches_common(c.id, c.created_at, c.updated_at))
                .count();
            Ok(Json(json!({"count": n})).into_response())
        }
        (Method::GET, ["customers", cid]) => {
            let i = store
                .customer_idx(id(cid)?)
                .ok_or_else(ApiError::not_found)?;
            Ok(Json(json!({"customer": project(render::customer_json(&store, &store.customers[i]), &ctx.fields())})).into_response())
        }
        (Method::GET, ["orders"]) => list_orders(ctx, &store),
        (Method::GET, ["orders", "count"]) => {
            let req = pagination::parse("orders", ctx.pairs, ORDER_FILTERS, false)?;
            let n = store
                .orders
                .iter()
                .filter(|o| order_matches(o, &req))
                .count();
            Ok(Json(json!({"count": n})).into_response())
        }
        (Method::GET, ["orders", oid]) => {
            let i = store.order_idx(id(oid)?).ok_or_else(ApiError::not_found)?;
            Ok(Json(json!({"order": project(render::order_json(&store, &store.orders[i]), &ctx.fields())})).into_response())
        }
        (Method::GET, ["orders", oid, "refunds"]) => {
            let o = &store.orders[store.order_idx(id(oid)?).ok_or_else(ApiError::not_found)?];
            let refunds: Vec<Value> = o
                .refunds
                .iter()
                .map(|r| render::refund_json(&store, o, r))
                .collect();
            Ok(Json(json!({"refunds": refunds})).into_response())
        }
        (Method::GET, ["orders", oid, "refunds", rid]) => {
            let o = &store.orders[store.order_idx(id(oid)?).ok_or_else(ApiError::not_found)?];
            let rid = id(rid)?;
            let r = o
                .refunds
                .iter()
                .find(|r| r.id == rid)
                .ok_or_else(ApiError::not_found)?;
            Ok(Json(json!({"refund": render::refund_json(&store, o, r)})).into_response())
        }
        (Method::GET, ["products"]) => list_products(ctx, &store),
        (Method::GET, ["products", "count"]) => {
            Ok(Json(json!({"count": store.products.len()})).into_response())
        }
        (Method::GET, ["products", pid]) => {
            let p = store.product(id(pid)?).ok_or_else(ApiError::not_found)?;
            Ok(Json(json!({"product": render::product_json(p)})).into_response())
        }
        (Method::GET, ["inventory_levels"]) => list_inventory(ctx, &store),
        (Method::GET, ["locations"]) => {
            let locations: Vec<Value> = store
                .location_ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    json!({
                        "id": id, "name": format!("Warehouse {}", i + 1), "active": true,
                        "country_code": "US", "admin_graphql_api_id": format!("gid://shopify/Location/{id}"),
                    })
                })
                .collect();
            Ok(Json(json!({"locations": locations})).into_response())
        }
        (Method::GET, ["webhooks"]) => {
            Ok(Json(json!({"webhooks": ctx.shop.webhooks.list_json()})).into_response())
        }
        (Method::GET, ["webhooks", "count"]) => {
            Ok(Json(json!({"count": ctx.shop.webhooks.list_json().len()})).into_response())
        }
        (Method::POST, ["webhooks"]) => {
            drop(store);
            let v: Value = serde_json::from_slice(body).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"webhook": "Required parameter missing or invalid"}}),
                )
            })?;
            let w = &v["webhook"];
            let topic = w["topic"].as_str().unwrap_or_default();
            let address = w["address"].as_str().unwrap_or_default();
            let created = ctx
                .shop
                .webhooks
                .subscribe(topic, address, ctx.version)
                .map_err(ApiError::unprocessable)?;
            Ok((StatusCode::CREATED, Json(json!({"webhook": created}))).into_response())
        }
        (Method::DELETE, ["webhooks", wid]) => {
            if ctx.shop.webhooks.unsubscribe(id(wid)?) {
                Ok(Json(json!({})).into_response())
            } else {
                Err(ApiError::not_found())
            }
        }
        _ => Err(ApiError::not_found()),
    }
}

fn with_link(body: Value, link: Option<String>) -> Response {
    let mut r = Json(body).into_response();
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert("link", l);
    }
    r
}

fn list_customers(ctx: &Ctx, store: &StoreData) -> Result<Response, ApiError> {
    let req = pagination::parse("customers", ctx.pairs, CUSTOMER_FILTERS, true)?;
    let start = pagination::sorted_start(|i| store.customers[i].id, store.customers.len(), &req);
    let cands = store.customers[start..]
        .iter()
        .filter(|c| req.filters.matches_common(c.id, c.created_at, c.updated_at))
        .map(|c| (req.sort.key(c.id, c.created_at, c.updated_at), c));
    let page = pagination::select(cands, &req, req.sort == Sort::default());
    let fields = ctx.fields();
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(_, c)| project(render::customer_json(store, c), &fields))
        .collect();
    let link = pagination::link_header(&page, &req, "customers", &ctx.url("customers"));
    Ok(with_link(json!({"customers": items}), link))
}

fn order_matches(o: &Order, req: &ListRequest) -> bool {
    let f = &req.filters;
    let status_ok = match f.status.as_deref().unwrap_or("open") {
        "any" => true,
        "closed" => o.closed_at.is_some(),
        "cancelled" => o.cancelled_at.is_some(),
        _ => o.closed_at.is_none() && o.cancelled_at.is_none(),
    };
    let fin_ok = match f.financial_status.as_deref().unwrap_or("any") {
        "any" => true,
        "unpaid" => matches!(o.financial, Financial::Pending | Financial::Authorized),
        s => o.financial == Financial::parse(s) && o.financial.as_str() == s,
    };
    status_ok && fin_ok && f.matches_common(o.id, o.created_at, o.updated_at)
}

fn list_orders(ctx: &Ctx, store: &StoreData) -> Result<Response, ApiError> {
    let req = pagination::parse("orders", ctx.pairs, ORDER_FILTERS, true)?;
    let start = pagination::sorted_start(|i| store.orders[i].id, store.orders.len(), &req);
    let cands = store.orders[start..]
        .iter()
        .filter(|o| order_matches(o, &req))
        .map(|o| (req.sort.key(o.id, o.created_at, o.updated_at), o));
    let page = pagination::select(cands, &req, req.sort == Sort::default());
    let fields = ctx.fields();
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(_, o)| project(render::order_json(store, o), &fields))
        .collect();
    let link = pagination::link_header(&page, &req, "orders", &ctx.url("orders"));
    Ok(with_link(json!({"orders": items}), link))
}

fn list_products(ctx: &Ctx, store: &StoreData) -> Result<Response, ApiError> {
    let req = pagination::parse("products", ctx.pairs, PRODUCT_FILTERS, true)?;
    let cands = store
        .products
        .iter()
        .filter(|p| req.filters.matches_common(p.id, p.created_at, p.updated_at))
        .map(|p| (req.sort.key(p.id, p.created_at, p.updated_at), p));
    let page = pagination::select(cands, &req, false);
    let fields = ctx.fields();
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(_, p)| project(render::product_json(p), &fields))
        .collect();
    let link = pagination::link_header(&page, &req, "products", &ctx.url("products"));
    Ok(with_link(json!({"products": items}), link))
}

fn list_inventory(ctx: &Ctx, store: &StoreData) -> Result<Response, ApiError> {
    let req = pagination::parse("inventory_levels", ctx.pairs, INVENTORY_FILTERS, true)?;
    let f = &req.filters;
    if f.inventory_item_ids.is_none() && f.location_ids.is_none() {
        return Err(ApiError::unprocessable(
            "inventory_item_ids or location_ids must be present",
        ));
    }
    let cands = store
        .inventory
        .iter()
        .filter(|l| {
            f.inventory_item_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&l.inventory_item_id))
                && f.location_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&l.location_id))
                && f.updated_min.is_none_or(|m| l.updated_at >= m)
        })
        .map(|l| ((l.inventory_item_id as i64, l.location_id as i64), l));
    let page = pagination::select(cands, &req, false);
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(_, l)| render::inventory_json(l))
        .collect();
    let link = pagination::link_header(
        &page,
        &req,
        "inventory_levels",
        &ctx.url("inventory_levels"),
    );
    Ok(with_link(json!({"inventory_levels": items}), link))
}
