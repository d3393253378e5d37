//! Shopify REST streams: customers, orders (with line items, refunds, refund line
//! items, transactions and adjustments), products (with variants) and inventory
//! levels, paged with `updated_at` filters in ascending `updated_at` order.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::client::Client;
use super::schema::*;
use crate::extract::{EntitySchema, PageSender, Request, Result, Stream, Unit};

/// The REST resources lockstep extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `customers.json`
    Customers,
    /// `orders.json` (refunds embedded)
    Orders,
    /// `products.json` (variants embedded)
    Products,
    /// `inventory_levels.json` (per location)
    InventoryLevels,
}

impl Resource {
    /// Every resource, in landing order.
    pub const ALL: [Resource; 4] = [
        Resource::Customers,
        Resource::Orders,
        Resource::Products,
        Resource::InventoryLevels,
    ];

    /// Stream name (and JSON key of the list).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Customers => "customers",
            Resource::Orders => "orders",
            Resource::Products => "products",
            Resource::InventoryLevels => "inventory_levels",
        }
    }

    /// The tables it lands; the first is the primary one.
    pub fn entities(self) -> &'static [&'static EntitySchema] {
        match self {
            Resource::Customers => &CUSTOMER_ENTITIES,
            Resource::Orders => &ORDER_ENTITIES,
            Resource::Products => &PRODUCT_ENTITIES,
            Resource::InventoryLevels => &INVENTORY_ENTITIES,
        }
    }
}

/// One REST resource as an extract stream.
pub struct RestStream {
    pub(super) client: Client,
    pub(super) resource: Resource,
    pub(super) page_size: u32,
    /// The bulk export backfills use, where Shopify has one for the resource.
    pub(super) bulk: Option<std::sync::Arc<dyn crate::extract::BulkExport>>,
}

static CUSTOMER_ENTITIES: [&EntitySchema; 1] = [&CUSTOMERS];
static PRODUCT_ENTITIES: [&EntitySchema; 2] = [&PRODUCTS, &PRODUCT_VARIANTS];
static INVENTORY_ENTITIES: [&EntitySchema; 1] = [&INVENTORY_LEVELS];

/// Shopify's maximum page size.
pub const MAX_PAGE_SIZE: u32 = 250;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn micros(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_micros())
}

#[async_trait]
impl Stream for RestStream {
    fn name(&self) -> &'static str {
        self.resource.name()
    }

    fn entities(&self) -> &'static [&'static EntitySchema] {
        self.resource.entities()
    }

    fn bulk(&self) -> Option<std::sync::Arc<dyn crate::extract::BulkExport>> {
        self.bulk.clone()
    }

    async fn estimate(&self, request: Request) -> Option<u64> {
        if self.resource == Resource::InventoryLevels {
            return None;
        }
        let url = self
            .client
            .url(&format!("{}/count.json", self.resource.name()));
        let page = self.client.get(&url, &self.filters(request)).await.ok()?;
        page.body.get("count")?.as_u64()
    }

    async fn fetch(&self, request: Request, pages: PageSender) -> Result<()> {
        let mut query = self.filters(request);
        query.push(("limit", self.page_size.to_string()));
        if self.resource != Resource::InventoryLevels {
            // Incremental runs land page by page and advance the cursor as they go, so
            // they need updated_at order. A backfill window is landed whole, so it
            // keeps Shopify's default id order, which pages cheaply on large stores.
            if matches!(request, Request::UpdatedSince(_)) {
                query.push(("order", "updated_at asc".into()));
            }
        } else {
            let locations = self.location_ids().await?;
            if locations.is_empty() {
                return Ok(());
            }
            query.push(("location_ids", locations.join(",")));
        }
        let until = match request {
            Request::Window { to, .. } => Some(to.timestamp_micros()),
            Request::UpdatedSince(_) => None,
        };
        let mut url = self.client.url(&format!("{}.json", self.resource.name()));
        loop {
            let mut page = self.client.get(&url, &query).await?;
            let Some(Value::Array(records)) =
                page.body.get_mut(self.resource.name()).map(Value::take)
            else {
                return Err(self
                    .client
                    .protocol(format!("{url}: no `{}` array", self.resource.name())));
            };
            let mut units = Vec::with_capacity(records.len());
            for record in records {
                let unit = self.unit(record)?;
                // updated_at_max is inclusive at Shopify; windows are half-open.
                if until.is_none_or(|u| unit.updated_at_us < u) {
                    units.push(unit);
                }
            }
            if pages.send(Ok(units)).await.is_err() {
                return Ok(()); // the consumer stopped (and reports why)
            }
            match page.next {
                // Follow-up pages take only page_info and limit, exactly as linked.
                Some(next) => {
                    url = next;
                    query.clear();
                }
                None => return Ok(()),
            }
        }
    }
}

impl RestStream {
    fn filters(&self, request: Request) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if self.resource == Resource::Orders {
            q.push(("status", "any".to_string()));
        }
        match request {
            Request::UpdatedSince(Some(since)) => q.push(("updated_at_min", ts(since))),
            Request::UpdatedSince(None) => {}
            Request::Window { from, to } => {
                q.push(("updated_at_min", ts(from)));
                if self.resource != Resource::InventoryLevels {
                    q.push(("updated_at_max", ts(to)));
                }
            }
        }
        q
    }

    async fn location_ids(&self) -> Result<Vec<String>> {
        let page = self
            .client
            .get(&self.client.url("locations.json"), &[])
            .await?;
        Ok(page
            .body
            .get("locations")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l.get("id"))
                    .map(Value::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn unit(&self, record: Value) -> Result<Unit> {
        unit(self.resource, record).map_err(|detail| self.client.protocol(detail))
    }
}

/// What a REST record of `resource` lands as: its own row plus the child rows
/// unrolled from it (an order's line items, refunds, ...). Public so that tools
/// that already hold REST-shaped records (the model-build bench) land exactly what
/// an extraction would. The error names the record and the field at fault.
pub fn unit(resource: Resource, mut record: Value) -> std::result::Result<Unit, String> {
    let int = |record: &Value, field: &str| record.get(field).and_then(Value::as_i64);
    let id = int(&record, "id");
    let key = match resource {
        Resource::InventoryLevels => int(&record, "inventory_item_id")
            .zip(int(&record, "location_id"))
            .map(|(item, location)| format!("{item}:{location}")),
        _ => id.map(|id| id.to_string()),
    }
    .ok_or_else(|| format!("{} record without an integer id", resource.name()))?;
    if resource == Resource::InventoryLevels
        && let Some(obj) = record.as_object_mut()
    {
        obj.insert("_key".into(), Value::String(key.clone()));
    }
    let updated = record.get("updated_at").cloned().unwrap_or(Value::Null);
    let updated_at_us = micros(&updated).ok_or_else(|| {
        format!(
            "{} {key}: updated_at {updated} is not an RFC 3339 time",
            resource.name()
        )
    })?;
    let mut rows = Vec::new();
    match resource {
        Resource::Orders => order_children(&record, id.unwrap_or_default(), &updated, &mut rows),
        Resource::Products => {
            let parent = json!({"id": id, "updated_at": updated});
            for v in array(&record, "variants") {
                rows.push((&PRODUCT_VARIANTS, with_parent(v, parent.clone())));
            }
        }
        _ => {}
    }
    // The record itself, moved rather than copied: it is the largest row.
    rows.insert(0, (resource.entities()[0], record));
    Ok(Unit {
        key,
        updated_at_us,
        rows,
    })
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn with_parent(child: &Value, parent: Value) -> Value {
    let mut obj = child.as_object().cloned().unwrap_or_else(Map::new);
    obj.insert("_parent".into(), parent);
    Value::Object(obj)
}

/// Unroll an order's embedded children into their own rows.
fn order_children(
    order: &Value,
    id: i64,
    updated: &Value,
    rows: &mut Vec<(&'static EntitySchema, Value)>,
) {
    let parent = json!({"id": id, "updated_at": updated});
    for li in array(order, "line_items") {
        rows.push((&ORDER_LINE_ITEMS, with_parent(li, parent.clone())));
    }
    for refund in array(order, "refunds") {
        let refund_parent = json!({"id": id, "updated_at": updated, "refund_id": refund.get("id")});
        // The refund row itself without its (separately landed) arrays.
        let mut slim = refund.as_object().cloned().unwrap_or_default();
        for k in ["refund_line_items", "transactions", "order_adjustments"] {
            slim.remove(k);
        }
        rows.push((&REFUNDS, with_parent(&Value::Object(slim), parent.clone())));
        for rli in array(refund, "refund_line_items") {
            // The embedded full line item is already landed on its own.
            let mut r = rli.as_object().cloned().unwrap_or_default();
            r.remove("line_item");
            rows.push((
                &REFUND_LINE_ITEMS,
                with_parent(&Value::Object(r), refund_parent.clone()),
            ));
        }
        for t in array(refund, "transactions") {
            rows.push((&REFUND_TRANSACTIONS, with_parent(t, refund_parent.clone())));
        }
        for a in array(refund, "order_adjustments") {
            rows.push((&ORDER_ADJUSTMENTS, with_parent(a, refund_parent.clone())));
        }
    }
}
