//! What the bulk renderer reads from the store: for an object of a GraphQL type, its
//! connections (nodes that become their own JSONL lines), its lists and nested
//! objects (rendered inline), and its scalars. Values come out as [`Scalar`]s that
//! borrow from the store, so the writer ([`super::jsonl`]) puts them straight into
//! the output without building a JSON tree per record.

use super::parse::Field;
use crate::sandbox::shopify::model::{
    Address, Currency, Customer, Financial, Fulfillment, LineItem, Money, Order, Refund,
    RefundLine, StoreData, Ts,
};

/// What a GraphQL object is rendered from.
#[derive(Clone, Copy)]
pub enum Src<'a> {
    Customer(&'a Customer),
    Order(&'a Order),
    LineItem(&'a Order, &'a LineItem),
    Refund(&'a Order, &'a Refund),
    RefundLine(&'a Order, &'a Refund, &'a RefundLine),
    Transaction(&'a Order, &'a Refund),
    Adjustment(&'a Order, &'a Refund),
    MoneyBag(&'a Order, Money),
    MoneyV2(Money, Currency),
    TaxLine(&'a Order, Money),
    Address(&'a Address),
    Variant(u64, u64),
    Product(u64),
    Consent(&'a Customer),
}

/// One scalar field's value, in the JSON form Shopify gives it.
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Owned(String),
    /// `UnsignedInt64` and legacy ids: a number written as a string.
    IdText(u64),
    /// `gid://shopify/{kind}/{id}`.
    Gid(&'static str, u64),
    /// `DateTime`, UTC, whole seconds.
    Time(Ts),
    /// GraphQL `Decimal`: no trailing zeros beyond one decimal ("12.3", "10.0").
    Decimal(Money),
    /// A comma-separated tag string as a list of trimmed, non-empty tags.
    Tags(&'a str),
    List(Vec<&'a str>),
    Currency(Currency),
    /// An order's name, `#` and its number (written without a `String` per order).
    OrderName(u32),
}

fn opt<'a, T>(v: Option<T>, f: impl FnOnce(T) -> Scalar<'a>) -> Scalar<'a> {
    v.map_or(Scalar::Null, f)
}

/// The `(kind, id)` of an object whose connections have nodes (their `__parentId`).
pub fn self_gid(src: Src) -> Option<(&'static str, u64)> {
    Some(match src {
        Src::Customer(c) => ("Customer", c.id),
        Src::Order(o) => ("Order", o.id),
        Src::LineItem(_, l) => ("LineItem", l.id),
        Src::Refund(_, r) => ("Refund", r.id),
        _ => return None,
    })
}

pub fn connection<'a>(src: Src<'a>, name: &str) -> Vec<Src<'a>> {
    match (src, name) {
        (Src::Order(o), "lineItems") => o.line_items.iter().map(|l| Src::LineItem(o, l)).collect(),
        (Src::Refund(o, r), "refundLineItems") => {
            r.lines.iter().map(|l| Src::RefundLine(o, r, l)).collect()
        }
        (Src::Refund(o, r), "transactions") => vec![Src::Transaction(o, r)],
        // A refunded shipping amount, as the REST `order_adjustments` entry.
        (Src::Refund(o, r), "orderAdjustments") if r.shipping.0 > 0 => {
            vec![Src::Adjustment(o, r)]
        }
        _ => Vec::new(),
    }
}

pub fn list<'a>(src: Src<'a>, name: &str) -> Vec<Src<'a>> {
    match (src, name) {
        (Src::Order(o), "refunds") => o.refunds.iter().map(|r| Src::Refund(o, r)).collect(),
        (Src::Order(o), "taxLines") if o.tax_rate_bp > 0 => vec![Src::TaxLine(o, o.total_tax())],
        (Src::LineItem(o, l), "taxLines") if o.tax_rate_bp > 0 => vec![Src::TaxLine(o, l.tax)],
        _ => Vec::new(),
    }
}

/// The store as an export reads it. An orders export finds every order's customer;
/// probing the customer records themselves costs a cache miss per probe, so their
/// ids are copied once per export into a dense array that stays in cache.
pub struct Lookup<'a> {
    pub store: &'a StoreData,
    customer_ids: Vec<u64>,
}

impl<'a> Lookup<'a> {
    pub fn new(store: &'a StoreData) -> Lookup<'a> {
        Lookup {
            store,
            customer_ids: store.customers.iter().map(|c| c.id).collect(),
        }
    }

    fn customer(&self, id: u64) -> Option<&'a Customer> {
        crate::sandbox::shopify::lookup::position(&self.customer_ids, id, |&k| k)
            .map(|i| &self.store.customers[i])
    }
}

pub fn object<'a>(lookup: &Lookup<'a>, src: Src<'a>, name: &str) -> Option<Src<'a>> {
    let store = lookup.store;
    let bag = |o: &'a Order, m: Money| Some(Src::MoneyBag(o, m));
    match (src, name) {
        (Src::Customer(c), "amountSpent") => Some(Src::MoneyV2(c.total_spent, c.currency)),
        (Src::Customer(c), "lastOrder") => c
            .last_order_id
            .and_then(|id| store.order_idx(id))
            .map(|i| Src::Order(&store.orders[i])),
        (Src::Customer(c), "defaultAddress") => store.address(c.address).map(Src::Address),
        (Src::Customer(c), "emailMarketingConsent") => c.email.as_ref().map(|_| Src::Consent(c)),
        (Src::Order(o), "customer") => o
            .customer_id
            .and_then(|id| lookup.customer(id))
            .map(Src::Customer),
        (Src::Order(o), "billingAddress" | "shippingAddress") => {
            store.address(o.address).map(Src::Address)
        }
        (Src::Order(o), "totalPriceSet") => bag(o, o.total_price()),
        (Src::Order(o), "subtotalPriceSet") => bag(o, o.subtotal()),
        (Src::Order(o), "totalTaxSet") => bag(o, o.total_tax()),
        (Src::Order(o), "totalDiscountsSet" | "currentTotalDiscountsSet") => {
            bag(o, o.total_discounts())
        }
        (Src::Order(o), "totalShippingPriceSet") => bag(o, o.shipping),
        (Src::Order(o), "totalRefundedSet") => bag(o, o.refunded_total()),
        (Src::Order(o), "totalRefundedShippingSet") => bag(o, o.refunded_shipping()),
        (Src::Order(o), "currentTotalPriceSet") => bag(o, o.total_price() - o.refunded_total()),
        (Src::Order(o), "currentSubtotalPriceSet") => bag(o, o.subtotal() - o.refunded_subtotal()),
        (Src::Order(o), "currentTotalTaxSet") => bag(o, o.total_tax() - o.refunded_tax()),
        (Src::LineItem(_, l), "variant") => Some(Src::Variant(l.product_id, l.variant_id)),
        (Src::LineItem(_, l), "product") => Some(Src::Product(l.product_id)),
        (Src::LineItem(o, l), "originalUnitPriceSet") => bag(o, l.price),
        (Src::LineItem(o, l), "originalTotalSet") => bag(o, l.gross()),
        (Src::LineItem(o, l), "totalDiscountSet") => bag(o, l.discount),
        (Src::LineItem(o, l), "discountedTotalSet") => bag(o, l.gross() - l.discount),
        (Src::Refund(o, r), "totalRefundedSet") => bag(o, r.settled()),
        (Src::RefundLine(o, _, l), "subtotalSet") => bag(o, l.subtotal),
        (Src::RefundLine(o, _, l), "totalTaxSet") => bag(o, l.tax),
        (Src::RefundLine(o, _, l), "priceSet") => o
            .line_items
            .iter()
            .find(|x| x.id == l.line_item_id)
            .and_then(|li| bag(o, li.price)),
        (Src::RefundLine(o, _, l), "lineItem") => o
            .line_items
            .iter()
            .find(|x| x.id == l.line_item_id)
            .map(|li| Src::LineItem(o, li)),
        (Src::Transaction(o, r), "amountSet") => bag(o, r.amount()),
        (Src::Adjustment(o, r), "amountSet") => bag(o, Money(-r.shipping.0)),
        (Src::Adjustment(o, _), "taxAmountSet") => bag(o, Money::ZERO),
        (Src::MoneyBag(o, m), "shopMoney") => Some(Src::MoneyV2(m, o.currency)),
        (Src::MoneyBag(o, m), "presentmentMoney") => {
            Some(Src::MoneyV2(m.convert(o.fx_ppm), o.presentment_currency))
        }
        (Src::TaxLine(o, m), "priceSet") => bag(o, m),
        _ => None,
    }
}

fn financial(f: Financial) -> &'static str {
    match f {
        Financial::Pending => "PENDING",
        Financial::Authorized => "AUTHORIZED",
        Financial::Paid => "PAID",
        Financial::PartiallyRefunded => "PARTIALLY_REFUNDED",
        Financial::Refunded => "REFUNDED",
        Financial::Voided => "VOIDED",
    }
}

/// The value of scalar field `f` of `src`.
pub fn scalar<'a>(store: &'a StoreData, src: Src<'a>, f: &Field) -> Scalar<'a> {
    use Scalar::{Bool, Decimal, Gid, IdText, Int, Null, Owned, Str, Tags, Time};
    let n = f.name.as_str();
    match src {
        Src::Customer(c) => match n {
            "id" => Gid("Customer", c.id),
            "legacyResourceId" => IdText(c.id),
            "email" => opt(c.email.as_deref(), Str),
            "firstName" => Str(&c.first_name),
            "lastName" => Str(&c.last_name),
            "displayName" => Owned(format!("{} {}", c.first_name, c.last_name)),
            "phone" => opt(c.phone.as_deref(), Str),
            "createdAt" => Time(c.created_at),
            "updatedAt" => Time(c.updated_at),
            "state" => Owned(c.state.as_str().to_uppercase()),
            "tags" => Tags(&c.tags),
            "note" => opt(c.note.as_deref(), Str),
            "numberOfOrders" => IdText(u64::from(c.orders_count)),
            "verifiedEmail" => Bool(c.verified_email),
            "taxExempt" => Bool(c.tax_exempt),
            _ => Null,
        },
        Src::Order(o) => match n {
            "id" => Gid("Order", o.id),
            "legacyResourceId" => IdText(o.id),
            "name" => Scalar::OrderName(o.number),
            "number" => Int(i64::from(o.number)),
            "email" => opt(o.email.as_deref(), Str),
            "phone" => opt(o.phone.as_deref(), Str),
            "createdAt" => Time(o.created_at),
            "updatedAt" => Time(o.updated_at),
            "processedAt" => Time(o.processed_at),
            "cancelledAt" => opt(o.cancelled_at, Time),
            "cancelReason" => opt(o.cancel_reason, |r| Owned(r.to_uppercase())),
            "closedAt" => opt(o.closed_at, Time),
            "closed" => Bool(o.closed_at.is_some()),
            "taxesIncluded" => Bool(false),
            "test" => Bool(o.test),
            "currencyCode" => Str(o.currency.code()),
            "presentmentCurrencyCode" => Str(o.presentment_currency.code()),
            "displayFinancialStatus" => Str(financial(o.financial)),
            "displayFulfillmentStatus" => Str(match o.fulfillment {
                Fulfillment::Fulfilled => "FULFILLED",
                Fulfillment::Partial => "PARTIALLY_FULFILLED",
                Fulfillment::Unfulfilled => "UNFULFILLED",
            }),
            "tags" => Tags(&o.tags),
            "sourceName" => Str(o.source_name),
            "discountCodes" => Scalar::List(o.discount.iter().map(|d| &*d.code).collect()),
            _ => Null,
        },
        Src::LineItem(o, l) => match n {
            "id" => Gid("LineItem", l.id),
            "title" => opt(store.product(l.product_id), |p| Str(&p.title)),
            "name" => opt(store.product(l.product_id), |p| {
                match store.variant(l.product_id, l.variant_id).map(|v| &*v.title) {
                    Some(v) if v != "Default Title" => Owned(format!("{} - {v}", p.title)),
                    _ => Str(&p.title),
                }
            }),
            "sku" => opt(store.variant(l.product_id, l.variant_id), |v| Str(&v.sku)),
            "vendor" => opt(store.product(l.product_id), |p| Str(&p.vendor)),
            "taxable" => Bool(o.tax_rate_bp > 0),
            "quantity" => Int(i64::from(l.quantity)),
            "currentQuantity" => {
                let refunded: u32 = o
                    .refunds
                    .iter()
                    .flat_map(|r| &r.lines)
                    .filter(|x| x.line_item_id == l.id)
                    .map(|x| x.quantity)
                    .sum();
                Int(i64::from(l.quantity.saturating_sub(refunded)))
            }
            "refundableQuantity" => Int(i64::from(o.refundable_qty(l.id))),
            _ => Null,
        },
        Src::Refund(_, r) => match n {
            "id" => Gid("Refund", r.id),
            "legacyResourceId" => IdText(r.id),
            "createdAt" | "updatedAt" => Time(r.created_at),
            "note" => opt(r.note.as_deref(), Str),
            _ => Null,
        },
        Src::RefundLine(_, r, l) => match n {
            "id" => Gid("RefundLineItem", l.id),
            "quantity" => Int(i64::from(l.quantity)),
            "restockType" => Str(if r.restock { "RETURN" } else { "NO_RESTOCK" }),
            "restocked" => Bool(r.restock),
            _ => Null,
        },
        Src::Transaction(o, r) => match n {
            "id" => Gid("OrderTransaction", r.transaction_id),
            "kind" => Str("REFUND"),
            "status" => Str(if r.success { "SUCCESS" } else { "FAILURE" }),
            "gateway" => Str(o.gateway),
            "processedAt" | "createdAt" => Time(r.created_at),
            "test" => Bool(o.test),
            "errorCode" if !r.success => Str("CARD_DECLINED"),
            _ => Null,
        },
        Src::Adjustment(_, r) => match n {
            "id" => Gid("OrderAdjustment", r.adjustment_id),
            "reason" => Str("SHIPPING_REFUND"),
            _ => Null,
        },
        Src::MoneyV2(m, c) => match n {
            "amount" => Decimal(m),
            "currencyCode" => Scalar::Currency(c),
            _ => Null,
        },
        Src::TaxLine(o, _) => match n {
            "title" => Str(o.tax_title),
            "rate" => Scalar::Float(f64::from(o.tax_rate_bp) / 10_000.0),
            "ratePercentage" => Scalar::Float(f64::from(o.tax_rate_bp) / 100.0),
            _ => Null,
        },
        Src::Address(a) => match n {
            "firstName" => Str(&a.first_name),
            "lastName" => Str(&a.last_name),
            "name" => Owned(format!("{} {}", a.first_name, a.last_name)),
            "address1" => Str(&a.address1),
            "city" => Str(&a.city),
            "provinceCode" => Str(&a.province_code),
            "countryCodeV2" => Str(&a.country_code),
            "zip" => Str(&a.zip),
            "phone" => opt(a.phone.as_deref(), Str),
            _ => Null,
        },
        Src::Variant(pid, vid) => {
            let v = store.variant(pid, vid);
            match n {
                "id" => Gid("ProductVariant", vid),
                "legacyResourceId" => IdText(vid),
                "sku" => opt(v, |v| Str(&v.sku)),
                "title" => opt(v, |v| Str(&v.title)),
                "price" => opt(v, |v| Decimal(v.price)),
                _ => Null,
            }
        }
        Src::Product(pid) => {
            let p = store.product(pid);
            match n {
                "id" => Gid("Product", pid),
                "legacyResourceId" => IdText(pid),
                "title" => opt(p, |p| Str(&p.title)),
                "vendor" => opt(p, |p| Str(&p.vendor)),
                "productType" => opt(p, |p| Str(&p.product_type)),
                "handle" => opt(p, |p| Str(&p.handle)),
                _ => Null,
            }
        }
        Src::Consent(c) => match n {
            "marketingState" => Owned(c.email_consent.as_str().to_uppercase()),
            "marketingOptInLevel" => Str("SINGLE_OPT_IN"),
            "consentUpdatedAt" => Time(c.created_at),
            _ => Null,
        },
        Src::MoneyBag(..) => Null,
    }
}
