//! The compact, typed in-memory model of a Shopify store. The generator and `--load`
//! fill it; the REST, GraphQL and webhook layers render JSON from it per request, so a
//! million orders cost typed structs rather than JSON trees.
//!
//! Money is kept in minor units (two decimals for every currency: the generator uses
//! none without cents, and `--load` assumes two). Times are Unix seconds (UTC) and are
//! rendered in the shop's fixed UTC offset.
//!
//! Customer `total_spent` follows the store's rule used by lockstep's finance models:
//! Σ `total_price` of the customer's non-test orders whose payment was captured (paid,
//! partially refunded, refunded) − Σ their successful refund transactions.
//! `orders_count` counts every non-test order.

use std::sync::Arc;

// The store's value types live in `values`; the rest of the sandbox names them
// through the model they make up.
pub use super::values::{Currency, Money, SHOP_UTC_OFFSET_SECS, Ts, fmt_ts, fmt_ts_utc, parse_ts};

/// A postal address, shared by customers and orders through its index.
#[derive(Clone, Debug, PartialEq)]
pub struct Address {
    pub first_name: Box<str>,
    pub last_name: Box<str>,
    pub address1: Box<str>,
    pub city: Box<str>,
    pub province_code: Box<str>,
    pub country_code: Box<str>,
    pub zip: Box<str>,
    pub phone: Option<Box<str>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerState {
    Enabled,
    Disabled,
    Invited,
    Declined,
}

impl CustomerState {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerState::Enabled => "enabled",
            CustomerState::Disabled => "disabled",
            CustomerState::Invited => "invited",
            CustomerState::Declined => "declined",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Subscribed,
    NotSubscribed,
    Unsubscribed,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Subscribed => "subscribed",
            Consent::NotSubscribed => "not_subscribed",
            Consent::Unsubscribed => "unsubscribed",
        }
    }
}

/// A store customer. `orders_count`, `total_spent` and `last_order_id` are derived
/// and kept current by the store on every order change.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: u64,
    pub email: Option<Arc<str>>,
    pub phone: Option<Arc<str>>,
    pub first_name: Box<str>,
    pub last_name: Box<str>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub state: CustomerState,
    pub verified_email: bool,
    pub email_consent: Consent,
    pub tags: Box<str>,
    pub note: Option<Box<str>>,
    pub currency: Currency,
    pub tax_exempt: bool,
    pub address: Option<u32>,
    pub orders_count: u32,
    pub total_spent: Money,
    pub last_order_id: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Financial {
    Pending,
    Authorized,
    Paid,
    PartiallyRefunded,
    Refunded,
    Voided,
}

impl Financial {
    pub fn as_str(self) -> &'static str {
        match self {
            Financial::Pending => "pending",
            Financial::Authorized => "authorized",
            Financial::Paid => "paid",
            Financial::PartiallyRefunded => "partially_refunded",
            Financial::Refunded => "refunded",
            Financial::Voided => "voided",
        }
    }
    pub fn parse(s: &str) -> Financial {
        match s {
            "authorized" => Financial::Authorized,
            "paid" => Financial::Paid,
            "partially_refunded" => Financial::PartiallyRefunded,
            "refunded" => Financial::Refunded,
            "voided" => Financial::Voided,
            _ => Financial::Pending,
        }
    }
    /// Whether money was captured (the order counts towards `total_spent`).
    pub fn captured(self) -> bool {
        matches!(
            self,
            Financial::Paid | Financial::PartiallyRefunded | Financial::Refunded
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fulfillment {
    Unfulfilled,
    Partial,
    Fulfilled,
}

impl Fulfillment {
    /// REST shows `null` for unfulfilled orders.
    pub fn rest(self) -> Option<&'static str> {
        match self {
            Fulfillment::Unfulfilled => None,
            Fulfillment::Partial => Some("partial"),
            Fulfillment::Fulfilled => Some("fulfilled"),
        }
    }
}

/// One order line. `discount` is the share of the order discount allocated to it.
#[derive(Clone, Debug, PartialEq)]
pub struct LineItem {
    pub id: u64,
    pub product_id: u64,
    pub variant_id: u64,
    pub quantity: u32,
    pub price: Money,
    pub discount: Money,
    pub tax: Money,
}

impl LineItem {
    /// Price × quantity, before discounts.
    pub fn gross(&self) -> Money {
        Money(self.price.0.saturating_mul(i64::from(self.quantity)))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RefundLine {
    pub id: u64,
    pub line_item_id: u64,
    pub quantity: u32,
    pub subtotal: Money,
    pub tax: Money,
}

/// A refund: returned lines, optionally refunded shipping (shown as a negative
/// `order_adjustments` entry), and the refund transaction that moved the money.
#[derive(Clone, Debug, PartialEq)]
pub struct Refund {
    pub id: u64,
    pub created_at: Ts,
    pub note: Option<Box<str>>,
    pub restock: bool,
    pub lines: Vec<RefundLine>,
    pub shipping: Money,
    pub adjustment_id: u64,
    pub transaction_id: u64,
    /// Whether the transaction succeeded (a failed one refunds nothing).
    pub success: bool,
}

impl Refund {
    /// The transaction amount: refunded lines with tax, plus refunded shipping.
    pub fn amount(&self) -> Money {
        self.lines.iter().map(|l| l.subtotal + l.tax).sum::<Money>() + self.shipping
    }
    pub fn settled(&self) -> Money {
        if self.success {
            self.amount()
        } else {
            Money::ZERO
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Discount {
    pub code: Box<str>,
    /// "percentage" or "fixed_amount".
    pub kind: &'static str,
    /// Percent (for "percentage") or the fixed amount in cents.
    pub value: i64,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub number: u32,
    pub customer_id: Option<u64>,
    /// Shared with the customer record at order time (cheap, and a later customer
    /// edit leaves the order's copy as it was, as in a real store).
    pub email: Option<Arc<str>>,
    pub phone: Option<Arc<str>>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub processed_at: Ts,
    pub cancelled_at: Option<Ts>,
    pub cancel_reason: Option<&'static str>,
    pub closed_at: Option<Ts>,
    pub currency: Currency,
    pub presentment_currency: Currency,
    /// Presentment units per shop unit, in parts per million.
    pub fx_ppm: u32,
    pub financial: Financial,
    pub fulfillment: Fulfillment,
    pub test: bool,
    pub tags: Box<str>,
    pub source_name: &'static str,
    pub gateway: &'static str,
    pub buyer_accepts_marketing: bool,
    pub address: Option<u32>,
    pub line_items: Vec<LineItem>,
    pub discount: Option<Discount>,
    pub shipping_title: &'static str,
    pub shipping: Money,
    /// Tax rate in basis points (825 = 8.25 %).
    pub tax_rate_bp: u32,
    pub tax_title: &'static str,
    pub refunds: Vec<Refund>,
}

impl Order {
    pub fn total_line_items_price(&self) -> Money {
        self.line_items.iter().map(LineItem::gross).sum()
    }
    pub fn total_discounts(&self) -> Money {
        self.line_items.iter().map(|l| l.discount).sum()
    }
    pub fn subtotal(&self) -> Money {
        self.total_line_items_price() - self.total_discounts()
    }
    pub fn total_tax(&self) -> Money {
        self.line_items.iter().map(|l| l.tax).sum()
    }
    pub fn total_price(&self) -> Money {
        self.subtotal() + self.total_tax() + self.shipping
    }
    pub fn refunded_subtotal(&self) -> Money {
        self.refunds
            .iter()
            .flat_map(|r| &r.lines)
            .map(|l| l.subtotal)
            .sum()
    }
    pub fn refunded_tax(&self) -> Money {
        self.refunds
            .iter()
            .flat_map(|r| &r.lines)
            .map(|l| l.tax)
            .sum()
    }
    pub fn refunded_total(&self) -> Money {
        self.refunds.iter().map(Refund::settled).sum()
    }
    pub fn refunded_shipping(&self) -> Money {
        self.refunds.iter().map(|r| r.shipping).sum()
    }
    /// What this order contributes to its customer's `total_spent`.
    pub fn spent(&self) -> Money {
        if self.test || !self.financial.captured() {
            return Money::ZERO;
        }
        self.total_price() - self.refunded_total()
    }
    pub fn name(&self) -> String {
        format!("#{}", self.number)
    }
    /// Quantity of a line not yet refunded.
    pub fn refundable_qty(&self, line_item_id: u64) -> u32 {
        let Some(li) = self.line_items.iter().find(|l| l.id == line_item_id) else {
            return 0;
        };
        let done: u32 = self
            .refunds
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|l| l.line_item_id == line_item_id)
            .map(|l| l.quantity)
            .sum();
        li.quantity.saturating_sub(done)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub id: u64,
    pub title: Box<str>,
    pub sku: Box<str>,
    pub price: Money,
    pub inventory_item_id: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub id: u64,
    pub title: Box<str>,
    pub vendor: Box<str>,
    pub product_type: Box<str>,
    pub handle: Box<str>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub variants: Vec<Variant>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InventoryLevel {
    pub inventory_item_id: u64,
    pub location_id: u64,
    pub available: i64,
    pub updated_at: Ts,
}

/// Shop identity.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopInfo {
    pub id: u64,
    pub name: String,
    pub currency: Currency,
}

impl ShopInfo {
    pub fn domain(&self) -> String {
        format!("{}.myshopify.com", self.name)
    }
}

/// Next ids to hand out; ids only grow, so every collection stays sorted by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdSeq {
    pub customer: u64,
    pub order: u64,
    pub order_number: u32,
    pub line_item: u64,
    pub refund: u64,
    pub refund_line: u64,
    pub transaction: u64,
    pub adjustment: u64,
}

/// A whole store: what the emulator serves.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreData {
    pub shop: ShopInfo,
    /// Simulated "now"; mutations stamp `updated_at` with it.
    pub clock: Ts,
    pub customers: Vec<Customer>,
    pub orders: Vec<Order>,
    pub products: Vec<Product>,
    pub addresses: Vec<Address>,
    pub location_ids: Vec<u64>,
    pub inventory: Vec<InventoryLevel>,
    pub ids: IdSeq,
}

impl StoreData {
    pub fn customer_idx(&self, id: u64) -> Option<usize> {
        super::lookup::position(&self.customers, id, |c| c.id)
    }
    pub fn order_idx(&self, id: u64) -> Option<usize> {
        super::lookup::position(&self.orders, id, |o| o.id)
    }
    pub fn product(&self, id: u64) -> Option<&Product> {
        self.products
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.products[i])
    }
    pub fn variant(&self, product_id: u64, variant_id: u64) -> Option<&Variant> {
        self.product(product_id)?
            .variants
            .iter()
            .find(|v| v.id == variant_id)
    }
    pub fn address(&self, idx: Option<u32>) -> Option<&Address> {
        idx.and_then(|i| self.addresses.get(i as usize))
    }

    /// Recompute every customer's derived fields from the orders (after bulk loads).
    pub fn recompute_customers(&mut self) {
        for c in &mut self.customers {
            c.orders_count = 0;
            c.total_spent = Money::ZERO;
            c.last_order_id = None;
        }
        for i in 0..self.orders.len() {
            let (cid, test, spent, oid) = {
                let o = &self.orders[i];
                (o.customer_id, o.test, o.spent(), o.id)
            };
            let Some(ci) = cid.and_then(|id| self.customer_idx(id)) else {
                continue;
            };
            let c = &mut self.customers[ci];
            if !test {
                c.orders_count += 1;
            }
            c.total_spent += spent;
            c.last_order_id = Some(oid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_and_renders() {
        assert_eq!(Money::parse("12.3"), Some(Money(1230)));
        assert_eq!(Money::parse("-5.00"), Some(Money(-500)));
        assert_eq!(Money::parse("7"), Some(Money(700)));
        assert_eq!(Money::parse("0.125"), Some(Money(13)));
        assert_eq!(Money::parse("abc"), None);
        assert_eq!(Money(-1230).to_decimal(), "-12.30");
        assert_eq!(Money(5).to_decimal(), "0.05");
        assert_eq!(Money(1000).convert(920_000), Money(920));
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_ts("2026-06-01T00:00:00-05:00").unwrap_or_default();
        assert_eq!(fmt_ts(t), "2026-06-01T00:00:00-05:00");
        assert_eq!(parse_ts("2026-06-01"), parse_ts("2026-06-01T00:00:00Z"));
    }
}
