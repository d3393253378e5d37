//! Bulk JSONL → landed columns. Each line of a bulk result is parsed once into a
//! borrowed struct (no `serde_json::Value` per record) and appended straight to the
//! Arrow builders of its raw table, in the same typed columns the REST path lands;
//! `_raw` is the line's own text. Child lines find their order through `__parentId`
//! (parents come first in Shopify's files), so every child row gets the `order_id`
//! and `order_updated_at` the REST path puts in `_parent`.
//!
//! Two order/refund columns need the children before they are known —
//! `total_line_items_price` (Σ unit price × quantity of the lines) and the refund's
//! `restock` (whether any of its lines was restocked) — so they are accumulated per
//! row and built when the window ends.

use std::sync::Arc;

use serde_json::value::RawValue;

mod children;

use super::bulk_columns::*;
use super::bulk_line::{
    CustomerLine, Gid, OrderLine, RefundInline, Str, Text, presentment, shop, typename,
};
use super::schema::*;
use crate::extract::columns::{DriftError, parse_money, parse_time_us};
use crate::extract::raw_text::RawOverflow;
use crate::extract::{EntitySchema, Export, ExtractError, Landed, Result};

/// What a bulk job exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `customers`
    Customers,
    /// `orders` with line items, refunds, refund line items, transactions and
    /// adjustments.
    Orders,
}

/// Where a conversion failed, for the drift error.
struct At<'a> {
    source: &'a str,
    entity: &'static EntitySchema,
    record: i64,
}

impl At<'_> {
    fn drift(&self, column: &str, expected: &'static str, found: &str) -> ExtractError {
        DriftError {
            source_name: self.source.to_string(),
            entity: self.entity.entity.to_string(),
            column: column.to_string(),
            path: column.to_string(),
            record: self.record.to_string(),
            expected,
            found: format!("the string {found:?}"),
        }
        .into()
    }

    fn time(&self, column: &str, v: Option<&str>) -> Result<Option<i64>> {
        v.map(|s| {
            parse_time_us(s).ok_or_else(|| self.drift(column, "an RFC 3339 timestamp string", s))
        })
        .transpose()
    }

    fn money(&self, column: &str, v: Option<&str>) -> Result<Option<i128>> {
        v.map(|s| parse_money(s).ok_or_else(|| self.drift(column, "a decimal string", s)))
            .transpose()
    }
}

/// A window whose raw JSON does not fit one batch is split, as a failed job's is.
fn too_large(source: &str, e: RawOverflow) -> ExtractError {
    ExtractError::BulkFailed {
        who: source.to_string(),
        status: "TOO_LARGE".to_string(),
        detail: e.to_string(),
    }
}

/// Lower-case an enum value into `scratch` (`PARTIALLY_REFUNDED` → `partially_refunded`,
/// as REST spells it).
fn lower<'s>(scratch: &'s mut String, v: Option<&str>) -> Option<&'s str> {
    let v = v?;
    scratch.clear();
    scratch.extend(v.chars().map(|c| c.to_ascii_lowercase()));
    Some(scratch.as_str())
}

/// A child row's link to its order (and refund).
#[derive(Clone, Copy)]
struct Link {
    order_id: i64,
    order_updated_us: i64,
    /// The order's row, or `None` when the order is left out (already landed).
    row: Option<usize>,
}

/// Turns the lines of one bulk result into the window's landed columns.
pub struct Mapper {
    root: Root,
    source: String,
    skip: Arc<Landed>,
    line_no: u64,
    scratch: String,
    /// Order id → its link, for children.
    orders_seen: foldhash::HashMap<i64, Link>,
    /// Refund id → (its order's link, the refund's row if landed).
    refunds_seen: foldhash::HashMap<i64, (Link, Option<usize>)>,
    units: u64,
    skipped: u64,
    max_updated_us: Option<i64>,
    customers: Customers,
    orders: Orders,
    line_items: LineItems,
    refunds: Refunds,
    refund_lines: RefundLines,
    transactions: Transactions,
    adjustments: Adjustments,
}

impl Mapper {
    /// A mapper for a `root` export of source `source`, leaving out `skip`.
    pub fn new(root: Root, source: &str, skip: Arc<Landed>) -> Mapper {
        Mapper {
            root,
            source: source.to_string(),
            skip,
            line_no: 0,
            scratch: String::new(),
            orders_seen: foldhash::HashMap::default(),
            refunds_seen: foldhash::HashMap::default(),
            units: 0,
            skipped: 0,
            max_updated_us: None,
            customers: Customers::default(),
            orders: Orders::default(),
            line_items: LineItems::default(),
            refunds: Refunds::default(),
            refund_lines: RefundLines::default(),
            transactions: Transactions::default(),
            adjustments: Adjustments::default(),
        }
    }

    /// Size the `_raw` builders for about what an earlier window's held.
    pub(super) fn with_sizes(mut self, last: RawSizes) -> Mapper {
        let [c, o, l, r, rl, t, a] = last.0;
        self.customers.raw = raw_builder(c);
        self.orders.raw = raw_builder(o);
        self.line_items.raw = raw_builder(l);
        self.refunds.raw = raw_builder(r);
        self.refund_lines.raw = raw_builder(rl);
        self.transactions.raw = raw_builder(t);
        self.adjustments.raw = raw_builder(a);
        self
    }

    /// What the `_raw` builders hold now, for sizing the next window's.
    pub(super) fn sizes(&self) -> RawSizes {
        RawSizes([
            raw_size(&self.customers.raw),
            raw_size(&self.orders.raw),
            raw_size(&self.line_items.raw),
            raw_size(&self.refunds.raw),
            raw_size(&self.refund_lines.raw),
            raw_size(&self.transactions.raw),
            raw_size(&self.adjustments.raw),
        ])
    }

    fn protocol(&self, detail: impl std::fmt::Display) -> ExtractError {
        ExtractError::protocol(
            &self.source,
            format!("bulk result line {}: {detail}", self.line_no),
        )
    }

    /// Map one JSONL line (without its newline).
    pub fn line(&mut self, bytes: &[u8]) -> Result<()> {
        self.line_no += 1;
        let text = std::str::from_utf8(bytes).map_err(|e| self.protocol(e))?;
        if text.trim().is_empty() {
            return Ok(());
        }
        let kind = typename(text).map_err(|e| self.protocol(e))?;
        match (self.root, &*kind) {
            (Root::Customers, "Customer") => self.customer(&self.parse(text)?, text),
            (Root::Orders, "Order") => self.order(&self.parse(text)?, text),
            (Root::Orders, "LineItem") => self.line_item(&self.parse(text)?, text),
            (Root::Orders, "RefundLineItem") => self.refund_line(&self.parse(text)?, text),
            (Root::Orders, "OrderTransaction") => self.transaction(&self.parse(text)?, text),
            (Root::Orders, "OrderAdjustment") => self.adjustment(&self.parse(text)?, text),
            (_, other) => Err(self.protocol(format!("unexpected object type {other}"))),
        }
    }

    fn parse<'t, T: serde::Deserialize<'t>>(&self, text: &'t str) -> Result<T> {
        serde_json::from_str(text).map_err(|e| self.protocol(e))
    }

    fn id(&self, id: Option<Gid>, what: &str) -> Result<i64> {
        id.map(|g| g.0)
            .ok_or_else(|| self.protocol(format!("{what} without an id")))
    }

    /// Updated time of a primary record, and whether this version is already landed.
    fn primary(
        &mut self,
        entity: &'static EntitySchema,
        updated_at: &Text,
        id: i64,
    ) -> Result<(i64, bool)> {
        let at = At {
            source: &self.source,
            entity,
            record: id,
        };
        let updated = at
            .time("updated_at", updated_at.as_deref())?
            .ok_or_else(|| self.protocol(format!("{} {id} without updatedAt", entity.entity)))?;
        let skip = !self.skip.is_empty() && self.skip.contains(&(id.to_string(), updated));
        if skip {
            self.skipped += 1;
        } else {
            self.units += 1;
            self.max_updated_us = Some(self.max_updated_us.map_or(updated, |m| m.max(updated)));
        }
        Ok((updated, skip))
    }

    fn customer(&mut self, line: &CustomerLine, raw: &str) -> Result<()> {
        let id = self.id(line.id, "customer")?;
        let (updated, skip) = self.primary(&CUSTOMERS, &line.updated_at, id)?;
        if skip {
            return Ok(());
        }
        let at = At {
            source: &self.source,
            entity: &CUSTOMERS,
            record: id,
        };
        let orders_count = match line.number_of_orders.as_deref() {
            // UnsignedInt64 arrives as a string.
            Some(s) => Some(
                s.parse::<i64>()
                    .map_err(|_| at.drift("orders_count", "an integer string", s))?,
            ),
            None => None,
        };
        let spent = line.amount_spent.as_ref();
        let total_spent = at.money("total_spent", spent.and_then(|m| m.amount.as_deref()))?;
        let created = at.time("created_at", line.created_at.as_deref())?;
        let c = &mut self.customers;
        c.id.append_value(id);
        c.email.append_option(line.email.as_deref());
        c.phone.append_option(line.phone.as_deref());
        c.first_name.append_option(line.first_name.as_deref());
        c.last_name.append_option(line.last_name.as_deref());
        c.state
            .append_option(lower(&mut self.scratch, line.state.as_deref()));
        c.verified_email.append_option(line.verified_email);
        c.tags
            .append_option(join_tags(&mut self.scratch, line.tags.as_deref()));
        c.currency
            .append_option(spent.and_then(|m| m.currency_code.as_deref()));
        c.orders_count.append_option(orders_count);
        c.total_spent.append_option(total_spent);
        let consent = line
            .email_marketing_consent
            .as_ref()
            .and_then(|m| m.marketing_state.as_deref());
        c.email_marketing_state
            .append_option(lower(&mut self.scratch, consent));
        c.country_code.append_option(
            line.default_address
                .as_ref()
                .and_then(|a| a.country_code_v2.as_deref()),
        );
        c.created_at.append_option(created);
        c.updated_at.append_value(updated);
        c.raw.append(raw).map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }

    fn order(&mut self, line: &OrderLine, raw: &str) -> Result<()> {
        let id = self.id(line.id, "order")?;
        let (updated, skip) = self.primary(&ORDERS, &line.updated_at, id)?;
        let row = (!skip).then_some(self.orders.line_items_price.len());
        let link = Link {
            order_id: id,
            order_updated_us: updated,
            row,
        };
        self.orders_seen.insert(id, link);
        // Refunds are a list inside the order line; their connections follow as
        // lines of their own.
        for r in line.refunds.iter().flatten() {
            self.refund(r, link)?;
        }
        if skip {
            return Ok(());
        }
        let at = At {
            source: &self.source,
            entity: &ORDERS,
            record: id,
        };
        let created = at.time("created_at", line.created_at.as_deref())?;
        let processed = at.time("processed_at", line.processed_at.as_deref())?;
        let cancelled = at.time("cancelled_at", line.cancelled_at.as_deref())?;
        let closed = at.time("closed_at", line.closed_at.as_deref())?;
        let money = [
            ("subtotal_price", shop(&line.subtotal_price_set)),
            ("total_discounts", shop(&line.total_discounts_set)),
            ("total_tax", shop(&line.total_tax_set)),
            ("total_shipping", shop(&line.total_shipping_price_set)),
            ("total_price", shop(&line.total_price_set)),
            ("current_total_price", shop(&line.current_total_price_set)),
            (
                "presentment_total_price",
                presentment(&line.total_price_set),
            ),
            (
                "presentment_total_discounts",
                presentment(&line.total_discounts_set),
            ),
            ("presentment_total_tax", presentment(&line.total_tax_set)),
            (
                "presentment_total_shipping",
                presentment(&line.total_shipping_price_set),
            ),
        ];
        let mut amounts = [None; 10];
        for (slot, (column, v)) in amounts.iter_mut().zip(money) {
            *slot = at.money(column, v)?;
        }
        let o = &mut self.orders;
        o.id.append_value(id);
        o.name.append_option(line.name.as_deref());
        o.order_number.append_option(line.number);
        o.email.append_option(line.email.as_deref());
        o.phone.append_option(line.phone.as_deref());
        o.customer_id
            .append_option(line.customer.as_ref().and_then(|c| c.id).map(|g| g.0));
        o.created_at.append_option(created);
        o.processed_at.append_option(processed);
        o.updated_at.append_value(updated);
        o.cancelled_at.append_option(cancelled);
        o.cancel_reason
            .append_option(lower(&mut self.scratch, line.cancel_reason.as_deref()));
        o.closed_at.append_option(closed);
        o.financial_status.append_option(lower(
            &mut self.scratch,
            line.display_financial_status.as_deref(),
        ));
        o.fulfillment_status.append_option(fulfillment(
            &mut self.scratch,
            line.display_fulfillment_status.as_deref(),
        ));
        o.test.append_option(line.test);
        o.source_name.append_option(line.source_name.as_deref());
        o.tags
            .append_option(join_tags(&mut self.scratch, line.tags.as_deref()));
        o.currency.append_option(line.currency_code.as_deref());
        o.presentment_currency
            .append_option(line.presentment_currency_code.as_deref());
        o.line_items_price.push(0);
        let [
            sub,
            disc,
            tax,
            ship,
            total,
            current,
            p_total,
            p_disc,
            p_tax,
            p_ship,
        ] = amounts;
        o.subtotal_price.append_option(sub);
        o.total_discounts.append_option(disc);
        o.total_tax.append_option(tax);
        o.total_shipping.append_option(ship);
        o.total_price.append_option(total);
        o.current_total_price.append_option(current);
        o.presentment_total_price.append_option(p_total);
        o.presentment_total_discounts.append_option(p_disc);
        o.presentment_total_tax.append_option(p_tax);
        o.presentment_total_shipping.append_option(p_ship);
        o.taxes_included.append_option(line.taxes_included);
        o.discount_codes
            .append_option(line.discount_codes.map(RawValue::get));
        // Shipping lines are a connection in GraphQL, and the five a bulk query may
        // hold are taken by the refund data (see the module doc of `bulk`).
        o.shipping_lines.append_null();
        o.tax_lines.append_option(line.tax_lines.map(RawValue::get));
        o.raw.append(raw).map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }

    fn refund(&mut self, raw: &RawValue, order: Link) -> Result<()> {
        let r: RefundInline = serde_json::from_str(raw.get()).map_err(|e| self.protocol(e))?;
        let id =
            r.id.map(|g| g.0)
                .ok_or_else(|| self.protocol("refund without an id"))?;
        let row = order.row.map(|_| self.refunds.restock.len());
        self.refunds_seen.insert(id, (order, row));
        if order.row.is_none() {
            return Ok(());
        }
        let at = At {
            source: &self.source,
            entity: &REFUNDS,
            record: id,
        };
        let created = at.time("created_at", r.created_at.as_deref())?;
        let f = &mut self.refunds;
        f.id.append_value(id);
        f.order_id.append_value(order.order_id);
        f.order_updated_at.append_value(order.order_updated_us);
        f.created_at.append_option(created);
        // GraphQL refunds have no processedAt; REST's equals createdAt except for
        // refunds imported with a back-dated processing time.
        f.processed_at.append_option(created);
        f.note.append_option(r.note.as_deref());
        f.restock.push(false);
        f.raw
            .append(raw.get())
            .map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }

    /// The window's columns, per entity in the entity's column order.
    pub fn finish(self) -> Result<Export> {
        let mut columns = Vec::new();
        match self.root {
            Root::Customers => columns.push((&CUSTOMERS, customers(self.customers)?)),
            Root::Orders => {
                columns.push((&ORDERS, orders(self.orders)?));
                columns.push((&ORDER_LINE_ITEMS, line_items(self.line_items)?));
                columns.push((&REFUNDS, refunds(self.refunds)));
                columns.push((&REFUND_LINE_ITEMS, refund_lines(self.refund_lines)?));
                columns.push((&REFUND_TRANSACTIONS, transactions(self.transactions)?));
                columns.push((&ORDER_ADJUSTMENTS, adjustments(self.adjustments)?));
            }
        }
        Ok(Export {
            columns,
            units: self.units,
            skipped: self.skipped,
            max_updated_at_us: self.max_updated_us,
        })
    }
}

/// GraphQL's tag list as REST's comma-separated text.
fn join_tags<'s>(scratch: &'s mut String, tags: Option<&[Str<'_>]>) -> Option<&'s str> {
    let tags = tags?;
    scratch.clear();
    for (i, t) in tags.iter().enumerate() {
        if i > 0 {
            scratch.push_str(", ");
        }
        scratch.push_str(t);
    }
    Some(scratch.as_str())
}

/// `displayFulfillmentStatus` as REST's `fulfillment_status` (null when unfulfilled).
fn fulfillment<'s>(scratch: &'s mut String, v: Option<&str>) -> Option<&'s str> {
    match v? {
        "UNFULFILLED" => None,
        "PARTIALLY_FULFILLED" => Some("partial"),
        other => lower(scratch, Some(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::columns::{Stamp, stamped};

    fn stamp() -> Stamp<'static> {
        Stamp {
            source_name: "shop",
            extracted_at_us: 0,
            batch_id: "b",
        }
    }

    const ORDER: &str = r##"{"__typename":"Order","id":"gid:\/\/shopify\/Order\/7","name":"#1007","number":1007,"updatedAt":"2024-03-01T10:00:00Z","createdAt":"2024-03-01T09:00:00Z","processedAt":"2024-03-01T09:00:00Z","displayFinancialStatus":"PARTIALLY_REFUNDED","displayFulfillmentStatus":"UNFULFILLED","tags":["a","b"],"totalPriceSet":{"shopMoney":{"amount":"12.3"},"presentmentMoney":{"amount":"11.0"}},"refunds":[{"id":"gid:\/\/shopify\/Refund\/9","createdAt":"2024-03-02T00:00:00Z","note":null}]}"##;

    #[test]
    fn every_entity_matches_its_declared_columns() {
        let mut m = Mapper::new(Root::Orders, "shop", Arc::default());
        m.line(ORDER.as_bytes()).unwrap();
        m.line(br#"{"__typename":"LineItem","id":"gid:\/\/shopify\/LineItem\/1","quantity":2,"originalUnitPriceSet":{"shopMoney":{"amount":"4.5"}},"__parentId":"gid:\/\/shopify\/Order\/7"}"#).unwrap();
        m.line(br#"{"__typename":"RefundLineItem","id":"gid:\/\/shopify\/RefundLineItem\/3","quantity":1,"restocked":true,"restockType":"RETURN","subtotalSet":{"shopMoney":{"amount":"4.5"}},"__parentId":"gid:\/\/shopify\/Refund\/9"}"#).unwrap();
        let export = m.finish().unwrap();
        assert_eq!(export.units, 1);
        for (schema, cols) in export.columns {
            let batch = stamped(schema, cols, &stamp()).unwrap();
            assert_eq!(batch.schema(), schema.arrow_schema(), "{}", schema.entity);
            if schema.entity == "orders" {
                use arrow::array::AsArray;
                let col = |n: &str| batch.column_by_name(n).unwrap().clone();
                let price = col("total_line_items_price");
                assert_eq!(
                    price
                        .as_primitive::<arrow::datatypes::Decimal128Type>()
                        .value(0),
                    900
                );
                assert_eq!(col("tags").as_string::<i32>().value(0), "a, b");
                assert_eq!(
                    col("financial_status").as_string::<i32>().value(0),
                    "partially_refunded"
                );
                assert!(col("fulfillment_status").is_null(0));
            }
            if schema.entity == "refunds" {
                use arrow::array::AsArray;
                assert!(
                    batch
                        .column_by_name("restock")
                        .unwrap()
                        .as_boolean()
                        .value(0)
                );
            }
        }
        let mut c = Mapper::new(Root::Customers, "shop", Arc::default());
        c.line(br#"{"__typename":"Customer","id":"gid:\/\/shopify\/Customer\/5","updatedAt":"2024-01-01T00:00:00Z","numberOfOrders":"3","amountSpent":{"amount":"10.0","currencyCode":"USD"}}"#).unwrap();
        for (schema, cols) in c.finish().unwrap().columns {
            let batch = stamped(schema, cols, &stamp()).unwrap();
            assert_eq!(batch.num_rows(), 1);
        }
    }

    #[test]
    fn sizing_from_the_last_window_changes_no_value() {
        let line = br#"{"__typename":"LineItem","id":"gid:\/\/shopify\/LineItem\/1","quantity":2,"__parentId":"gid:\/\/shopify\/Order\/7"}"#;
        let map = |m: &mut Mapper| {
            m.line(ORDER.as_bytes()).unwrap();
            m.line(line).unwrap();
        };
        let mut first = Mapper::new(Root::Orders, "shop", Arc::default());
        map(&mut first);
        let sizes = first.sizes();
        assert_eq!(
            sizes.0[1],
            (1, ORDER.len()),
            "orders: one row, the line's text"
        );
        assert_eq!(sizes.0[2], (1, line.len()));
        assert_eq!(sizes.0[0], (0, 0), "no customers in an orders export");
        let mut second = Mapper::new(Root::Orders, "shop", Arc::default()).with_sizes(sizes);
        map(&mut second);
        assert_eq!(second.sizes(), sizes);
        let (a, b) = (first.finish().unwrap(), second.finish().unwrap());
        for ((sa, ca), (sb, cb)) in a.columns.iter().zip(&b.columns) {
            assert_eq!(sa.entity, sb.entity);
            assert_eq!(ca, cb, "{}", sa.entity);
        }
    }

    #[test]
    fn landed_versions_and_their_children_are_left_out() {
        let skip: Landed = [("7".to_string(), 1_709_287_200_000_000)].into();
        let mut m = Mapper::new(Root::Orders, "shop", Arc::new(skip));
        m.line(ORDER.as_bytes()).unwrap();
        m.line(br#"{"__typename":"LineItem","id":"gid:\/\/shopify\/LineItem\/1","__parentId":"gid:\/\/shopify\/Order\/7"}"#).unwrap();
        let export = m.finish().unwrap();
        assert_eq!((export.units, export.skipped), (0, 1));
        assert!(export.columns.iter().all(|(_, c)| c[0].is_empty()));
    }

    #[test]
    fn a_changed_type_or_an_orphan_is_reported() {
        let mut m = Mapper::new(Root::Orders, "shop", Arc::default());
        let bad = ORDER.replace(r#""amount":"12.3""#, r#""amount":"12.345""#);
        let err = m.line(bad.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("total_price") && err.contains("record 7"),
            "{err}"
        );
        let err = m
            .line(br#"{"__typename":"LineItem","id":"gid:\/\/shopify\/LineItem\/1","__parentId":"gid:\/\/shopify\/Order\/8"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("before its order 8"), "{err}");
        let err = m
            .line(br#"{"__typename":"Order","id":"gid:\/\/shopify\/Order\/9","updatedAt":5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
