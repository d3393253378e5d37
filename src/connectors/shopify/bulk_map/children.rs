//! Bulk lines of an order's children — line items, refund line items,
//! transactions and adjustments — found through `__parentId` and appended to their
//! tables with the order's (and refund's) link.

use serde_json::value::RawValue;

use super::{At, Link, Mapper, lower, too_large};
use crate::connectors::shopify::bulk_line::{
    AdjustmentLine, Gid, LineItemLine, RefundLineItemLine, TransactionLine, presentment, shop,
};
use crate::connectors::shopify::schema::*;
use crate::extract::Result;

impl Mapper {
    fn parent_order(&self, parent: Option<Gid>, what: &str) -> Result<Link> {
        let parent = parent.ok_or_else(|| self.protocol(format!("{what} without __parentId")))?;
        self.orders_seen
            .get(&parent.0)
            .copied()
            .ok_or_else(|| self.protocol(format!("{what} before its order {}", parent.0)))
    }

    fn parent_refund(&self, parent: Option<Gid>, what: &str) -> Result<(i64, Link, Option<usize>)> {
        let parent = parent.ok_or_else(|| self.protocol(format!("{what} without __parentId")))?;
        let (link, row) = self
            .refunds_seen
            .get(&parent.0)
            .copied()
            .ok_or_else(|| self.protocol(format!("{what} before its refund {}", parent.0)))?;
        Ok((parent.0, link, row))
    }

    pub(super) fn line_item(&mut self, line: &LineItemLine, raw: &str) -> Result<()> {
        let id = self.id(line.id, "line item")?;
        let order = self.parent_order(line.parent_id, "line item")?;
        let Some(order_row) = order.row else {
            return Ok(());
        };
        let at = At {
            source: &self.source,
            entity: &ORDER_LINE_ITEMS,
            record: id,
        };
        let price = at.money("price", shop(&line.original_unit_price_set))?;
        let p_price = at.money(
            "presentment_price",
            presentment(&line.original_unit_price_set),
        )?;
        let discount = at.money("total_discount", shop(&line.total_discount_set))?;
        if let (Some(p), Some(q), Some(total)) = (
            price,
            line.quantity,
            self.orders.line_items_price.get_mut(order_row),
        ) {
            *total += p * i128::from(q);
        }
        let l = &mut self.line_items;
        l.id.append_value(id);
        l.order_id.append_value(order.order_id);
        l.order_updated_at.append_value(order.order_updated_us);
        l.product_id
            .append_option(line.product.as_ref().and_then(|p| p.id).map(|g| g.0));
        l.variant_id
            .append_option(line.variant.as_ref().and_then(|v| v.id).map(|g| g.0));
        l.sku.append_option(line.sku.as_deref());
        l.title.append_option(line.title.as_deref());
        l.quantity.append_option(line.quantity);
        l.price.append_option(price);
        l.presentment_price.append_option(p_price);
        l.total_discount.append_option(discount);
        l.taxable.append_option(line.taxable);
        l.tax_lines.append_option(line.tax_lines.map(RawValue::get));
        l.raw.append(raw).map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }

    pub(super) fn refund_line(&mut self, line: &RefundLineItemLine, raw: &str) -> Result<()> {
        let id = self.id(line.id, "refund line item")?;
        let (refund_id, order, row) = self.parent_refund(line.parent_id, "refund line item")?;
        let Some(refund_row) = row else {
            return Ok(());
        };
        let at = At {
            source: &self.source,
            entity: &REFUND_LINE_ITEMS,
            record: id,
        };
        let subtotal = at.money("subtotal", shop(&line.subtotal_set))?;
        let tax = at.money("total_tax", shop(&line.total_tax_set))?;
        let p_subtotal = at.money("presentment_subtotal", presentment(&line.subtotal_set))?;
        if line.restocked == Some(true)
            && let Some(flag) = self.refunds.restock.get_mut(refund_row)
        {
            *flag = true;
        }
        let l = &mut self.refund_lines;
        l.id.append_value(id);
        l.refund_id.append_value(refund_id);
        l.order_id.append_value(order.order_id);
        l.order_updated_at.append_value(order.order_updated_us);
        l.line_item_id
            .append_option(line.line_item.as_ref().and_then(|li| li.id).map(|g| g.0));
        l.quantity.append_option(line.quantity);
        l.restock_type
            .append_option(lower(&mut self.scratch, line.restock_type.as_deref()));
        l.subtotal.append_option(subtotal);
        l.total_tax.append_option(tax);
        l.presentment_subtotal.append_option(p_subtotal);
        l.raw.append(raw).map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }

    pub(super) fn transaction(&mut self, line: &TransactionLine, raw: &str) -> Result<()> {
        let id = self.id(line.id, "transaction")?;
        let (refund_id, order, row) = self.parent_refund(line.parent_id, "transaction")?;
        if row.is_none() {
            return Ok(());
        }
        let at = At {
            source: &self.source,
            entity: &REFUND_TRANSACTIONS,
            record: id,
        };
        let amount = at.money("amount", shop(&line.amount_set))?;
        let processed = at.time("processed_at", line.processed_at.as_deref())?;
        let currency = line
            .amount_set
            .as_ref()
            .and_then(|b| b.shop_money.as_ref())
            .and_then(|m| m.currency_code.as_deref());
        let t = &mut self.transactions;
        t.id.append_value(id);
        t.refund_id.append_value(refund_id);
        t.order_id.append_value(order.order_id);
        t.order_updated_at.append_value(order.order_updated_us);
        t.kind
            .append_option(lower(&mut self.scratch, line.kind.as_deref()));
        t.status
            .append_option(lower(&mut self.scratch, line.status.as_deref()));
        t.gateway.append_option(line.gateway.as_deref());
        t.amount.append_option(amount);
        t.currency.append_option(currency);
        t.test.append_option(line.test);
        t.processed_at.append_option(processed);
        t.raw.append(raw).map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }

    pub(super) fn adjustment(&mut self, line: &AdjustmentLine, raw: &str) -> Result<()> {
        let id = self.id(line.id, "order adjustment")?;
        let (refund_id, order, row) = self.parent_refund(line.parent_id, "order adjustment")?;
        if row.is_none() {
            return Ok(());
        }
        let at = At {
            source: &self.source,
            entity: &ORDER_ADJUSTMENTS,
            record: id,
        };
        let amount = at.money("amount", shop(&line.amount_set))?;
        let tax = at.money("tax_amount", shop(&line.tax_amount_set))?;
        let a = &mut self.adjustments;
        a.id.append_value(id);
        a.refund_id.append_value(refund_id);
        a.order_id.append_value(order.order_id);
        a.order_updated_at.append_value(order.order_updated_us);
        // GraphQL's `reason` enum is REST's `kind`; REST's free-text `reason` has no
        // GraphQL field.
        a.kind
            .append_option(lower(&mut self.scratch, line.reason.as_deref()));
        a.reason.append_null();
        a.amount.append_option(amount);
        a.tax_amount.append_option(tax);
        a.raw.append(raw).map_err(|e| too_large(&self.source, e))?;
        Ok(())
    }
}
