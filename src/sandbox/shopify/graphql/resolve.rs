//! What the bulk renderer reads from the store: for an object of a GraphQL type, its
//! connections (nodes that become their own JSONL lines), its lists and nested
//! objects (rendered inline), and its scalars. Values come out as [`Scalar`]s that
//! borrow from the store, so the writer ([`super::jsonl`]) puts them straight into
//! the output without building a JSON tree per record.

use super::names::Name as N;
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

pub fn connection<'a>(src: Src<'a>, name: N) -> Vec<Src<'a>> {
    match (src, name) {
        (Src::Order(o), N::LineItems) => o.line_items.iter().map(|l| Src::LineItem(o, l)).collect(),
        (Src::Refund(o, r), N::RefundLineItems) => {
            r.lines.iter().map(|l| Src::RefundLine(o, r, l)).collect()
        }
        (Src::Refund(o, r), N::Transactions) => vec![Src::Transaction(o, r)],
        // A refunded shipping amount, as the REST `order_adjustments` entry.
        (Src::Refund(o, r), N::OrderAdjustments) if r.shipping.0 > 0 => {
            vec![Src::Adjustment(o, r)]
        }
        _ => Vec::new(),
    }
}

pub fn list<'a>(src: Src<'a>, name: N) -> Vec<Src<'a>> {
    match (src, name) {
        (Src::Order(o), N::Refunds) => o.refunds.iter().map(|r| Src::Refund(o, r)).collect(),
        (Src::Order(o), N::TaxLines) if o.tax_rate_bp > 0 => vec![Src::TaxLine(o, o.total_tax())],
        (Src::LineItem(o, l), N::TaxLines) if o.tax_rate_bp > 0 => vec![Src::TaxLine(o, l.tax)],
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

pub fn object<'a>(lookup: &Lookup<'a>, src: Src<'a>, name: N) -> Option<Src<'a>> {
    let store = lookup.store;
    let bag = |o: &'a Order, m: Money| Some(Src::MoneyBag(o, m));
    match (src, name) {
        (Src::Customer(c), N::AmountSpent) => Some(Src::MoneyV2(c.total_spent, c.currency)),
        (Src::Customer(c), N::LastOrder) => c
            .last_order_id
            .and_then(|id| store.order_idx(id))
            .map(|i| Src::Order(&store.orders[i])),
        (Src::Customer(c), N::DefaultAddress) => store.address(c.address).map(Src::Address),
        (Src::Customer(c), N::EmailMarketingConsent) => c.email.as_ref().map(|_| Src::Consent(c)),
        (Src::Order(o), N::Customer) => o
            .customer_id
            .and_then(|id| lookup.customer(id))
            .map(Src::Customer),
        (Src::Order(o), N::BillingAddress | N::ShippingAddress) => {
            store.address(o.address).map(Src::Address)
        }
        (Src::Order(o), N::TotalPriceSet) => bag(o, o.total_price()),
        (Src::Order(o), N::SubtotalPriceSet) => bag(o, o.subtotal()),
        (Src::Order(o), N::TotalTaxSet) => bag(o, o.total_tax()),
        (Src::Order(o), N::TotalDiscountsSet | N::CurrentTotalDiscountsSet) => {
            bag(o, o.total_discounts())
        }
        (Src::Order(o), N::TotalShippingPriceSet) => bag(o, o.shipping),
        (Src::Order(o), N::TotalRefundedSet) => bag(o, o.refunded_total()),
        (Src::Order(o), N::TotalRefundedShippingSet) => bag(o, o.refunded_shipping()),
        (Src::Order(o), N::CurrentTotalPriceSet) => bag(o, o.total_price() - o.refunded_total()),
        (Src::Order(o), N::CurrentSubtotalPriceSet) => bag(o, o.subtotal() - o.refunded_subtotal()),
        (Src::Order(o), N::CurrentTotalTaxSet) => bag(o, o.total_tax() - o.refunded_tax()),
        (Src::LineItem(_, l), N::Variant) => Some(Src::Variant(l.product_id, l.variant_id)),
        (Src::LineItem(_, l), N::Product) => Some(Src::Product(l.product_id)),
        (Src::LineItem(o, l), N::OriginalUnitPriceSet) => bag(o, l.price),
        (Src::LineItem(o, l), N::OriginalTotalSet) => bag(o, l.gross()),
        (Src::LineItem(o, l), N::TotalDiscountSet) => bag(o, l.discount),
        (Src::LineItem(o, l), N::DiscountedTotalSet) => bag(o, l.gross() - l.discount),
        (Src::Refund(o, r), N::TotalRefundedSet) => bag(o, r.settled()),
        (Src::RefundLine(o, _, l), N::SubtotalSet) => bag(o, l.subtotal),
        (Src::RefundLine(o, _, l), N::TotalTaxSet) => bag(o, l.tax),
        (Src::RefundLine(o, _, l), N::PriceSet) => o
            .line_items
            .iter()
            .find(|x| x.id == l.line_item_id)
            .and_then(|li| bag(o, li.price)),
        (Src::RefundLine(o, _, l), N::LineItem) => o
            .line_items
            .iter()
            .find(|x| x.id == l.line_item_id)
            .map(|li| Src::LineItem(o, li)),
        (Src::Transaction(o, r), N::AmountSet) => bag(o, r.amount()),
        (Src::Adjustment(o, r), N::AmountSet) => bag(o, Money(-r.shipping.0)),
        (Src::Adjustment(o, _), N::TaxAmountSet) => bag(o, Money::ZERO),
        (Src::MoneyBag(o, m), N::ShopMoney) => Some(Src::MoneyV2(m, o.currency)),
        (Src::MoneyBag(o, m), N::PresentmentMoney) => {
            Some(Src::MoneyV2(m.convert(o.fx_ppm), o.presentment_currency))
        }
        (Src::TaxLine(o, m), N::PriceSet) => bag(o, m),
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

/// The value of scalar field `n` of `src`.
pub fn scalar<'a>(store: &'a StoreData, src: Src<'a>, n: N) -> Scalar<'a> {
    use Scalar::{Bool, Decimal, Gid, IdText, Int, Null, Owned, Str, Tags, Time};
    match src {
        Src::Customer(c) => match n {
            N::Id => Gid("Customer", c.id),
            N::LegacyResourceId => IdText(c.id),
            N::Email => opt(c.email.as_deref(), Str),
            N::FirstName => Str(&c.first_name),
            N::LastName => Str(&c.last_name),
            N::DisplayName => Owned(format!("{} {}", c.first_name, c.last_name)),
            N::Phone => opt(c.phone.as_deref(), Str),
            N::CreatedAt => Time(c.created_at),
            N::UpdatedAt => Time(c.updated_at),
            N::State => Owned(c.state.as_str().to_uppercase()),
            N::Tags => Tags(&c.tags),
            N::Note => opt(c.note.as_deref(), Str),
            N::NumberOfOrders => IdText(u64::from(c.orders_count)),
            N::VerifiedEmail => Bool(c.verified_email),
            N::TaxExempt => Bool(c.tax_exempt),
            _ => Null,
        },
        Src::Order(o) => match n {
            N::Id => Gid("Order", o.id),
            N::LegacyResourceId => IdText(o.id),
            N::Name => Scalar::OrderName(o.number),
            N::Number => Int(i64::from(o.number)),
            N::Email => opt(o.email.as_deref(), Str),
            N::Phone => opt(o.phone.as_deref(), Str),
            N::CreatedAt => Time(o.created_at),
            N::UpdatedAt => Time(o.updated_at),
            N::ProcessedAt => Time(o.processed_at),
            N::CancelledAt => opt(o.cancelled_at, Time),
            N::CancelReason => opt(o.cancel_reason, |r| Owned(r.to_uppercase())),
            N::ClosedAt => opt(o.closed_at, Time),
            N::Closed => Bool(o.closed_at.is_some()),
            N::TaxesIncluded => Bool(false),
            N::Test => Bool(o.test),
            N::CurrencyCode => Str(o.currency.code()),
            N::PresentmentCurrencyCode => Str(o.presentment_currency.code()),
            N::DisplayFinancialStatus => Str(financial(o.financial)),
            N::DisplayFulfillmentStatus => Str(match o.fulfillment {
                Fulfillment::Fulfilled => "FULFILLED",
                Fulfillment::Partial => "PARTIALLY_FULFILLED",
                Fulfillment::Unfulfilled => "UNFULFILLED",
            }),
            N::Tags => Tags(&o.tags),
            N::SourceName => Str(o.source_name),
            N::DiscountCodes => Scalar::List(o.discount.iter().map(|d| &*d.code).collect()),
            _ => Null,
        },
        Src::LineItem(o, l) => match n {
            N::Id => Gid("LineItem", l.id),
            N::Title => opt(store.product(l.product_id), |p| Str(&p.title)),
            N::Name => opt(store.product(l.product_id), |p| {
                match store.variant(l.product_id, l.variant_id).map(|v| &*v.title) {
                    Some(v) if v != "Default Title" => Owned(format!("{} - {v}", p.title)),
                    _ => Str(&p.title),
                }
            }),
            N::Sku => opt(store.variant(l.product_id, l.variant_id), |v| Str(&v.sku)),
            N::Vendor => opt(store.product(l.product_id), |p| Str(&p.vendor)),
            N::Taxable => Bool(o.tax_rate_bp > 0),
            N::Quantity => Int(i64::from(l.quantity)),
            N::CurrentQuantity => {
                let refunded: u32 = o
                    .refunds
                    .iter()
                    .flat_map(|r| &r.lines)
                    .filter(|x| x.line_item_id == l.id)
                    .map(|x| x.quantity)
                    .sum();
                Int(i64::from(l.quantity.saturating_sub(refunded)))
            }
            N::RefundableQuantity => Int(i64::from(o.refundable_qty(l.id))),
            _ => Null,
        },
        Src::Refund(_, r) => match n {
            N::Id => Gid("Refund", r.id),
            N::LegacyResourceId => IdText(r.id),
            N::CreatedAt | N::UpdatedAt => Time(r.created_at),
            N::Note => opt(r.note.as_deref(), Str),
            _ => Null,
        },
        Src::RefundLine(_, r, l) => match n {
            N::Id => Gid("RefundLineItem", l.id),
            N::Quantity => Int(i64::from(l.quantity)),
            N::RestockType => Str(if r.restock { "RETURN" } else { "NO_RESTOCK" }),
            N::Restocked => Bool(r.restock),
            _ => Null,
        },
        Src::Transaction(o, r) => match n {
            N::Id => Gid("OrderTransaction", r.transaction_id),
            N::Kind => Str("REFUND"),
            N::Status => Str(if r.success { "SUCCESS" } else { "FAILURE" }),
            N::Gateway => Str(o.gateway),
            N::ProcessedAt | N::CreatedAt => Time(r.created_at),
            N::Test => Bool(o.test),
            N::ErrorCode if !r.success => Str("CARD_DECLINED"),
            _ => Null,
        },
        Src::Adjustment(_, r) => match n {
            N::Id => Gid("OrderAdjustment", r.adjustment_id),
            N::Reason => Str("SHIPPING_REFUND"),
            _ => Null,
        },
        Src::MoneyV2(m, c) => match n {
            N::Amount => Decimal(m),
            N::CurrencyCode => Scalar::Currency(c),
            _ => Null,
        },
        Src::TaxLine(o, _) => match n {
            N::Title => Str(o.tax_title),
            N::Rate => Scalar::Float(f64::from(o.tax_rate_bp) / 10_000.0),
            N::RatePercentage => Scalar::Float(f64::from(o.tax_rate_bp) / 100.0),
            _ => Null,
        },
        Src::Address(a) => match n {
            N::FirstName => Str(&a.first_name),
            N::LastName => Str(&a.last_name),
            N::Name => Owned(format!("{} {}", a.first_name, a.last_name)),
            N::Address1 => Str(&a.address1),
            N::City => Str(&a.city),
            N::ProvinceCode => Str(&a.province_code),
            N::CountryCodeV2 => Str(&a.country_code),
            N::Zip => Str(&a.zip),
            N::Phone => opt(a.phone.as_deref(), Str),
            _ => Null,
        },
        Src::Variant(pid, vid) => {
            let v = store.variant(pid, vid);
            match n {
                N::Id => Gid("ProductVariant", vid),
                N::LegacyResourceId => IdText(vid),
                N::Sku => opt(v, |v| Str(&v.sku)),
                N::Title => opt(v, |v| Str(&v.title)),
                N::Price => opt(v, |v| Decimal(v.price)),
                _ => Null,
            }
        }
        Src::Product(pid) => {
            let p = store.product(pid);
            match n {
                N::Id => Gid("Product", pid),
                N::LegacyResourceId => IdText(pid),
                N::Title => opt(p, |p| Str(&p.title)),
                N::Vendor => opt(p, |p| Str(&p.vendor)),
                N::ProductType => opt(p, |p| Str(&p.product_type)),
                N::Handle => opt(p, |p| Str(&p.handle)),
                _ => Null,
            }
        }
        Src::Consent(c) => match n {
            N::MarketingState => Owned(c.email_consent.as_str().to_uppercase()),
            N::MarketingOptInLevel => Str("SINGLE_OPT_IN"),
            N::ConsentUpdatedAt => Time(c.created_at),
            _ => Null,
        },
        Src::MoneyBag(..) => Null,
    }
}
