//! Arrow builders of the raw tables a bulk export fills, one struct per entity
//! with its columns in the entity's declared order (`schema.rs`), and their
//! finishing into column arrays (typed columns, then `_raw`).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Array, Decimal128Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};

use crate::extract::Result;
use crate::extract::columns::MONEY_SCALE;
use crate::extract::raw_text::RawText;

fn finish_money(mut b: Decimal128Builder) -> Result<ArrayRef> {
    Ok(Arc::new(
        b.finish().with_precision_and_scale(18, MONEY_SCALE)?,
    ))
}

fn finish_time(mut b: TimestampMicrosecondBuilder) -> ArrayRef {
    Arc::new(b.finish().with_timezone("UTC"))
}

fn finish<B: arrow::array::ArrayBuilder>(mut b: B) -> ArrayRef {
    b.finish()
}

#[derive(Default)]
pub(super) struct Customers {
    pub(super) id: Int64Builder,
    pub(super) email: StringBuilder,
    pub(super) phone: StringBuilder,
    pub(super) first_name: StringBuilder,
    pub(super) last_name: StringBuilder,
    pub(super) state: StringBuilder,
    pub(super) verified_email: BooleanBuilder,
    pub(super) tags: StringBuilder,
    pub(super) currency: StringBuilder,
    pub(super) orders_count: Int64Builder,
    pub(super) total_spent: Decimal128Builder,
    pub(super) email_marketing_state: StringBuilder,
    pub(super) country_code: StringBuilder,
    pub(super) created_at: TimestampMicrosecondBuilder,
    pub(super) updated_at: TimestampMicrosecondBuilder,
    pub(super) raw: RawText,
}

#[derive(Default)]
pub(super) struct Orders {
    pub(super) id: Int64Builder,
    pub(super) name: StringBuilder,
    pub(super) order_number: Int64Builder,
    pub(super) email: StringBuilder,
    pub(super) phone: StringBuilder,
    pub(super) customer_id: Int64Builder,
    pub(super) created_at: TimestampMicrosecondBuilder,
    pub(super) processed_at: TimestampMicrosecondBuilder,
    pub(super) updated_at: TimestampMicrosecondBuilder,
    pub(super) cancelled_at: TimestampMicrosecondBuilder,
    pub(super) cancel_reason: StringBuilder,
    pub(super) closed_at: TimestampMicrosecondBuilder,
    pub(super) financial_status: StringBuilder,
    pub(super) fulfillment_status: StringBuilder,
    pub(super) test: BooleanBuilder,
    pub(super) source_name: StringBuilder,
    pub(super) tags: StringBuilder,
    pub(super) currency: StringBuilder,
    pub(super) presentment_currency: StringBuilder,
    /// Σ unit price × quantity per order row, filled in by its line items.
    pub(super) line_items_price: Vec<i128>,
    pub(super) subtotal_price: Decimal128Builder,
    pub(super) total_discounts: Decimal128Builder,
    pub(super) total_tax: Decimal128Builder,
    pub(super) total_shipping: Decimal128Builder,
    pub(super) total_price: Decimal128Builder,
    pub(super) current_total_price: Decimal128Builder,
    pub(super) presentment_total_price: Decimal128Builder,
    pub(super) presentment_total_discounts: Decimal128Builder,
    pub(super) presentment_total_tax: Decimal128Builder,
    pub(super) presentment_total_shipping: Decimal128Builder,
    pub(super) taxes_included: BooleanBuilder,
    pub(super) discount_codes: StringBuilder,
    pub(super) shipping_lines: StringBuilder,
    pub(super) tax_lines: StringBuilder,
    pub(super) raw: RawText,
}

#[derive(Default)]
pub(super) struct LineItems {
    pub(super) id: Int64Builder,
    pub(super) order_id: Int64Builder,
    pub(super) order_updated_at: TimestampMicrosecondBuilder,
    pub(super) product_id: Int64Builder,
    pub(super) variant_id: Int64Builder,
    pub(super) sku: StringBuilder,
    pub(super) title: StringBuilder,
    pub(super) quantity: Int64Builder,
    pub(super) price: Decimal128Builder,
    pub(super) presentment_price: Decimal128Builder,
    pub(super) total_discount: Decimal128Builder,
    pub(super) taxable: BooleanBuilder,
    pub(super) tax_lines: StringBuilder,
    pub(super) raw: RawText,
}

#[derive(Default)]
pub(super) struct Refunds {
    pub(super) id: Int64Builder,
    pub(super) order_id: Int64Builder,
    pub(super) order_updated_at: TimestampMicrosecondBuilder,
    pub(super) created_at: TimestampMicrosecondBuilder,
    pub(super) processed_at: TimestampMicrosecondBuilder,
    pub(super) note: StringBuilder,
    /// Whether any line of the refund row was restocked, filled in by its lines.
    pub(super) restock: Vec<bool>,
    pub(super) raw: RawText,
}

#[derive(Default)]
pub(super) struct RefundLines {
    pub(super) id: Int64Builder,
    pub(super) refund_id: Int64Builder,
    pub(super) order_id: Int64Builder,
    pub(super) order_updated_at: TimestampMicrosecondBuilder,
    pub(super) line_item_id: Int64Builder,
    pub(super) quantity: Int64Builder,
    pub(super) restock_type: StringBuilder,
    pub(super) subtotal: Decimal128Builder,
    pub(super) total_tax: Decimal128Builder,
    pub(super) presentment_subtotal: Decimal128Builder,
    pub(super) raw: RawText,
}

#[derive(Default)]
pub(super) struct Transactions {
    pub(super) id: Int64Builder,
    pub(super) refund_id: Int64Builder,
    pub(super) order_id: Int64Builder,
    pub(super) order_updated_at: TimestampMicrosecondBuilder,
    pub(super) kind: StringBuilder,
    pub(super) status: StringBuilder,
    pub(super) gateway: StringBuilder,
    pub(super) amount: Decimal128Builder,
    pub(super) currency: StringBuilder,
    pub(super) test: BooleanBuilder,
    pub(super) processed_at: TimestampMicrosecondBuilder,
    pub(super) raw: RawText,
}

#[derive(Default)]
pub(super) struct Adjustments {
    pub(super) id: Int64Builder,
    pub(super) refund_id: Int64Builder,
    pub(super) order_id: Int64Builder,
    pub(super) order_updated_at: TimestampMicrosecondBuilder,
    pub(super) kind: StringBuilder,
    pub(super) reason: StringBuilder,
    pub(super) amount: Decimal128Builder,
    pub(super) tax_amount: Decimal128Builder,
    pub(super) raw: RawText,
}

pub(super) fn customers(c: Customers) -> Result<Vec<ArrayRef>> {
    Ok(vec![
        finish(c.id),
        finish(c.email),
        finish(c.phone),
        finish(c.first_name),
        finish(c.last_name),
        finish(c.state),
        finish(c.verified_email),
        finish(c.tags),
        finish(c.currency),
        finish(c.orders_count),
        finish_money(c.total_spent)?,
        finish(c.email_marketing_state),
        finish(c.country_code),
        finish_time(c.created_at),
        finish_time(c.updated_at),
        c.raw.finish(),
    ])
}

pub(super) fn orders(o: Orders) -> Result<Vec<ArrayRef>> {
    let line_items_price =
        Decimal128Array::from(o.line_items_price).with_precision_and_scale(18, MONEY_SCALE)?;
    Ok(vec![
        finish(o.id),
        finish(o.name),
        finish(o.order_number),
        finish(o.email),
        finish(o.phone),
        finish(o.customer_id),
        finish_time(o.created_at),
        finish_time(o.processed_at),
        finish_time(o.updated_at),
        finish_time(o.cancelled_at),
        finish(o.cancel_reason),
        finish_time(o.closed_at),
        finish(o.financial_status),
        finish(o.fulfillment_status),
        finish(o.test),
        finish(o.source_name),
        finish(o.tags),
        finish(o.currency),
        finish(o.presentment_currency),
        Arc::new(line_items_price),
        finish_money(o.subtotal_price)?,
        finish_money(o.total_discounts)?,
        finish_money(o.total_tax)?,
        finish_money(o.total_shipping)?,
        finish_money(o.total_price)?,
        finish_money(o.current_total_price)?,
        finish_money(o.presentment_total_price)?,
        finish_money(o.presentment_total_discounts)?,
        finish_money(o.presentment_total_tax)?,
        finish_money(o.presentment_total_shipping)?,
        finish(o.taxes_included),
        finish(o.discount_codes),
        finish(o.shipping_lines),
        finish(o.tax_lines),
        o.raw.finish(),
    ])
}

pub(super) fn line_items(l: LineItems) -> Result<Vec<ArrayRef>> {
    Ok(vec![
        finish(l.id),
        finish(l.order_id),
        finish_time(l.order_updated_at),
        finish(l.product_id),
        finish(l.variant_id),
        finish(l.sku),
        finish(l.title),
        finish(l.quantity),
        finish_money(l.price)?,
        finish_money(l.presentment_price)?,
        finish_money(l.total_discount)?,
        finish(l.taxable),
        finish(l.tax_lines),
        l.raw.finish(),
    ])
}

pub(super) fn refunds(r: Refunds) -> Vec<ArrayRef> {
    let restock: arrow::array::BooleanArray = r.restock.into_iter().map(Some).collect();
    vec![
        finish(r.id),
        finish(r.order_id),
        finish_time(r.order_updated_at),
        finish_time(r.created_at),
        finish_time(r.processed_at),
        finish(r.note),
        Arc::new(restock),
        r.raw.finish(),
    ]
}

pub(super) fn refund_lines(l: RefundLines) -> Result<Vec<ArrayRef>> {
    Ok(vec![
        finish(l.id),
        finish(l.refund_id),
        finish(l.order_id),
        finish_time(l.order_updated_at),
        finish(l.line_item_id),
        finish(l.quantity),
        finish(l.restock_type),
        finish_money(l.subtotal)?,
        finish_money(l.total_tax)?,
        finish_money(l.presentment_subtotal)?,
        l.raw.finish(),
    ])
}

pub(super) fn transactions(t: Transactions) -> Result<Vec<ArrayRef>> {
    Ok(vec![
        finish(t.id),
        finish(t.refund_id),
        finish(t.order_id),
        finish_time(t.order_updated_at),
        finish(t.kind),
        finish(t.status),
        finish(t.gateway),
        finish_money(t.amount)?,
        finish(t.currency),
        finish(t.test),
        finish_time(t.processed_at),
        t.raw.finish(),
    ])
}

pub(super) fn adjustments(a: Adjustments) -> Result<Vec<ArrayRef>> {
    Ok(vec![
        finish(a.id),
        finish(a.refund_id),
        finish(a.order_id),
        finish_time(a.order_updated_at),
        finish(a.kind),
        finish(a.reason),
        finish_money(a.amount)?,
        finish_money(a.tax_amount)?,
        a.raw.finish(),
    ])
}

/// Rows and `_raw` bytes of each table in a window (customers, orders, line items,
/// refunds, refund lines, transactions, adjustments), kept to size the next
/// window's `_raw` builders. `_raw` holds the whole export once over; grown by
/// doubling it was copied about once more and its fresh pages faulted in at every
/// step. Sized up front, in power-of-two steps, it is one buffer per window, which
/// the `_raw` pool serves from the buffers earlier windows returned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RawSizes(pub(super) [(usize, usize); 7]);

/// A `_raw` builder for about what `last` held: (rows, bytes).
pub(super) fn raw_builder((rows, bytes): (usize, usize)) -> RawText {
    if bytes == 0 {
        return RawText::default();
    }
    // A quarter over, for stores that grow window to window.
    let grow = |n: usize| n.saturating_add(n / 4).next_power_of_two();
    RawText::with_capacity(grow(rows), grow(bytes))
}

/// What a finished `_raw` builder held: (rows, bytes).
pub(super) fn raw_size(b: &RawText) -> (usize, usize) {
    (b.len(), b.bytes())
}
