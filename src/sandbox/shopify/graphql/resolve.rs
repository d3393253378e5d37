//! Rendering GraphQL objects from the store, and the bulk JSONL: one line per root
//! node; every nested connection's nodes as separate lines carrying `__parentId`
//! (after their parent, as Shopify emits them). List fields such as `Order.refunds`
//! stay inline, as in Shopify's schema; connections under them (`refundLineItems`,
//! `transactions`, `orderAdjustments`) become lines whose `__parentId` is the refund.

use serde_json::{Map, Value};

use super::parse::{Field, Selection, fields_for};
use super::schema::{Kind, kind, node_selection};
use crate::sandbox::shopify::model::{
    Address, Currency, Customer, Financial, Fulfillment, LineItem, Money, Order, Refund,
    RefundLine, StoreData, fmt_ts_utc,
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

/// A connection met while rendering: its nodes become their own lines.
pub struct Child<'a> {
    parent: String,
    ty: &'static str,
    items: Vec<Src<'a>>,
    sels: &'a [Selection],
}

fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// GraphQL `Decimal`: no trailing zeros beyond one decimal ("12.3", "10.0").
pub fn decimal(m: Money) -> String {
    let s = m.to_decimal();
    match s.strip_suffix('0') {
        Some(t) if !t.ends_with('.') => t.to_string(),
        _ => s,
    }
}

fn tags(s: &str) -> Value {
    Value::Array(
        s.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Value::String(t.into()))
            .collect(),
    )
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map(Into::into).unwrap_or(Value::Null)
}

/// Render `src` (of GraphQL type `ty`) with the selected fields; connections are
/// pushed to `children` instead of being rendered inline.
pub fn render<'a>(
    store: &'a StoreData,
    ty: &str,
    src: Src<'a>,
    sels: &'a [Selection],
    children: &mut Vec<Child<'a>>,
) -> Value {
    let mut out = Map::new();
    for f in fields_for(sels, ty) {
        if f.name == "__typename" {
            out.insert(f.key().into(), Value::String(ty.into()));
            continue;
        }
        match kind(ty, &f.name) {
            Some(Kind::Conn(t)) => {
                if let (Some(node), Some(parent)) = (node_selection(f), self_gid(src)) {
                    children.push(Child {
                        parent,
                        ty: t,
                        items: connection(src, &f.name),
                        sels: node,
                    });
                }
            }
            Some(Kind::Obj(t)) => {
                let v = object(store, src, &f.name)
                    .map(|s| render(store, t, s, &f.selections, children))
                    .unwrap_or(Value::Null);
                out.insert(f.key().into(), v);
            }
            Some(Kind::List(t)) => {
                let items: Vec<Value> = list(src, &f.name)
                    .into_iter()
                    .map(|s| render(store, t, s, &f.selections, children))
                    .collect();
                out.insert(f.key().into(), Value::Array(items));
            }
            Some(Kind::Scalar) => {
                out.insert(f.key().into(), scalar(store, src, f));
            }
            None => {}
        }
    }
    Value::Object(out)
}

fn self_gid(src: Src) -> Option<String> {
    Some(match src {
        Src::Customer(c) => gid("Customer", c.id),
        Src::Order(o) => gid("Order", o.id),
        Src::LineItem(_, l) => gid("LineItem", l.id),
        Src::Refund(_, r) => gid("Refund", r.id),
        _ => return None,
    })
}

fn connection<'a>(src: Src<'a>, name: &str) -> Vec<Src<'a>> {
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

fn list<'a>(src: Src<'a>, name: &str) -> Vec<Src<'a>> {
    match (src, name) {
        (Src::Order(o), "refunds") => o.refunds.iter().map(|r| Src::Refund(o, r)).collect(),
        (Src::Order(o), "taxLines") if o.tax_rate_bp > 0 => vec![Src::TaxLine(o, o.total_tax())],
        (Src::LineItem(o, l), "taxLines") if o.tax_rate_bp > 0 => vec![Src::TaxLine(o, l.tax)],
        _ => Vec::new(),
    }
}

fn object<'a>(store: &'a StoreData, src: Src<'a>, name: &str) -> Option<Src<'a>> {
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
            .and_then(|id| store.customer_idx(id))
            .map(|i| Src::Customer(&store.customers[i])),
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

fn scalar(store: &StoreData, src: Src, f: &Field) -> Value {
    let n = f.name.as_str();
    match src {
        Src::Customer(c) => match n {
            "id" => gid("Customer", c.id).into(),
            "legacyResourceId" => c.id.to_string().into(),
            "email" => opt(c.email.as_deref()),
            "firstName" => Value::String(c.first_name.to_string()),
            "lastName" => Value::String(c.last_name.to_string()),
            "displayName" => format!("{} {}", c.first_name, c.last_name).into(),
            "phone" => opt(c.phone.as_deref()),
            "createdAt" => fmt_ts_utc(c.created_at).into(),
            "updatedAt" => fmt_ts_utc(c.updated_at).into(),
            "state" => c.state.as_str().to_uppercase().into(),
            "tags" => tags(&c.tags),
            "note" => opt(c.note.as_deref()),
            "numberOfOrders" => c.orders_count.to_string().into(),
            "verifiedEmail" => c.verified_email.into(),
            "taxExempt" => c.tax_exempt.into(),
            _ => Value::Null,
        },
        Src::Order(o) => match n {
            "id" => gid("Order", o.id).into(),
            "legacyResourceId" => o.id.to_string().into(),
            "name" => o.name().into(),
            "number" => o.number.into(),
            "email" => opt(o.email.as_deref()),
            "phone" => opt(o.phone.as_deref()),
            "createdAt" => fmt_ts_utc(o.created_at).into(),
            "updatedAt" => fmt_ts_utc(o.updated_at).into(),
            "processedAt" => fmt_ts_utc(o.processed_at).into(),
            "cancelledAt" => opt(o.cancelled_at.map(fmt_ts_utc)),
            "cancelReason" => opt(o.cancel_reason.map(str::to_uppercase)),
            "closedAt" => opt(o.closed_at.map(fmt_ts_utc)),
            "closed" => o.closed_at.is_some().into(),
            "taxesIncluded" => false.into(),
            "test" => o.test.into(),
            "currencyCode" => o.currency.code().into(),
            "presentmentCurrencyCode" => o.presentment_currency.code().into(),
            "displayFinancialStatus" => financial(o.financial).into(),
            "displayFulfillmentStatus" => match o.fulfillment {
                Fulfillment::Fulfilled => "FULFILLED",
                Fulfillment::Partial => "PARTIALLY_FULFILLED",
                Fulfillment::Unfulfilled => "UNFULFILLED",
            }
            .into(),
            "tags" => tags(&o.tags),
            "sourceName" => o.source_name.into(),
            "discountCodes" => Value::Array(
                o.discount
                    .iter()
                    .map(|d| Value::String(d.code.to_string()))
                    .collect(),
            ),
            _ => Value::Null,
        },
        Src::LineItem(o, l) => {
            let product = store.product(l.product_id);
            let variant = store.variant(l.product_id, l.variant_id);
            let refunded: u32 = o
                .refunds
                .iter()
                .flat_map(|r| &r.lines)
                .filter(|x| x.line_item_id == l.id)
                .map(|x| x.quantity)
                .sum();
            match n {
                "id" => gid("LineItem", l.id).into(),
                "title" => opt(product.map(|p| p.title.to_string())),
                "name" => opt(product.map(|p| match variant.map(|v| &*v.title) {
                    Some(v) if v != "Default Title" => format!("{} - {v}", p.title),
                    _ => p.title.to_string(),
                })),
                "sku" => opt(variant.map(|v| v.sku.to_string())),
                "vendor" => opt(product.map(|p| p.vendor.to_string())),
                "taxable" => (o.tax_rate_bp > 0).into(),
                "quantity" => l.quantity.into(),
                "currentQuantity" => l.quantity.saturating_sub(refunded).into(),
                "refundableQuantity" => o.refundable_qty(l.id).into(),
                _ => Value::Null,
            }
        }
        Src::Refund(_, r) => match n {
            "id" => gid("Refund", r.id).into(),
            "legacyResourceId" => r.id.to_string().into(),
            "createdAt" | "updatedAt" => fmt_ts_utc(r.created_at).into(),
            "note" => opt(r.note.as_deref()),
            _ => Value::Null,
        },
        Src::RefundLine(_, r, l) => match n {
            "id" => gid("RefundLineItem", l.id).into(),
            "quantity" => l.quantity.into(),
            "restockType" => if r.restock { "RETURN" } else { "NO_RESTOCK" }.into(),
            "restocked" => r.restock.into(),
            _ => Value::Null,
        },
        Src::Transaction(o, r) => match n {
            "id" => gid("OrderTransaction", r.transaction_id).into(),
            "kind" => "REFUND".into(),
            "status" => if r.success { "SUCCESS" } else { "FAILURE" }.into(),
            "gateway" => o.gateway.into(),
            "processedAt" | "createdAt" => fmt_ts_utc(r.created_at).into(),
            "test" => o.test.into(),
            "errorCode" => {
                if r.success {
                    Value::Null
                } else {
                    "CARD_DECLINED".into()
                }
            }
            _ => Value::Null,
        },
        Src::Adjustment(_, r) => match n {
            "id" => gid("OrderAdjustment", r.adjustment_id).into(),
            "reason" => "SHIPPING_REFUND".into(),
            _ => Value::Null,
        },
        Src::MoneyV2(m, c) => match n {
            "amount" => decimal(m).into(),
            "currencyCode" => c.code().into(),
            _ => Value::Null,
        },
        Src::TaxLine(o, _) => match n {
            "title" => o.tax_title.into(),
            "rate" => serde_json::Number::from_f64(f64::from(o.tax_rate_bp) / 10_000.0)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            "ratePercentage" => serde_json::Number::from_f64(f64::from(o.tax_rate_bp) / 100.0)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        Src::Address(a) => match n {
            "firstName" => Value::String(a.first_name.to_string()),
            "lastName" => Value::String(a.last_name.to_string()),
            "name" => format!("{} {}", a.first_name, a.last_name).into(),
            "address1" => Value::String(a.address1.to_string()),
            "city" => Value::String(a.city.to_string()),
            "provinceCode" => Value::String(a.province_code.to_string()),
            "countryCodeV2" => Value::String(a.country_code.to_string()),
            "zip" => Value::String(a.zip.to_string()),
            "phone" => opt(a.phone.as_deref()),
            _ => Value::Null,
        },
        Src::Variant(pid, vid) => {
            let v = store.variant(pid, vid);
            match n {
                "id" => gid("ProductVariant", vid).into(),
                "legacyResourceId" => vid.to_string().into(),
                "sku" => opt(v.map(|v| v.sku.to_string())),
                "title" => opt(v.map(|v| v.title.to_string())),
                "price" => opt(v.map(|v| decimal(v.price))),
                _ => Value::Null,
            }
        }
        Src::Product(pid) => {
            let p = store.product(pid);
            match n {
                "id" => gid("Product", pid).into(),
                "legacyResourceId" => pid.to_string().into(),
                "title" => opt(p.map(|p| p.title.to_string())),
                "vendor" => opt(p.map(|p| p.vendor.to_string())),
                "productType" => opt(p.map(|p| p.product_type.to_string())),
                "handle" => opt(p.map(|p| p.handle.to_string())),
                _ => Value::Null,
            }
        }
        Src::Consent(c) => match n {
            "marketingState" => c.email_consent.as_str().to_uppercase().into(),
            "marketingOptInLevel" => "SINGLE_OPT_IN".into(),
            "consentUpdatedAt" => fmt_ts_utc(c.created_at).into(),
            _ => Value::Null,
        },
        Src::MoneyBag(..) => Value::Null,
    }
}

/// Writes JSON with `/` escaped as `\/` inside strings, as Shopify's bulk files have
/// it (`gid:\/\/…`), straight into the output buffer.
struct SlashEscaping;

impl serde_json::ser::Formatter for SlashEscaping {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut parts = fragment.split('/');
        if let Some(first) = parts.next() {
            writer.write_all(first.as_bytes())?;
        }
        for part in parts {
            writer.write_all(b"\\/")?;
            writer.write_all(part.as_bytes())?;
        }
        Ok(())
    }
}

/// One JSONL line.
fn push_line(out: &mut Vec<u8>, v: &Value) {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, SlashEscaping);
    // Writing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(v, &mut ser);
    out.push(b'\n');
}

fn emit<'a>(
    store: &'a StoreData,
    ty: &str,
    src: Src<'a>,
    sels: &'a [Selection],
    parent: Option<&str>,
    out: &mut Vec<u8>,
    count: &mut u64,
) {
    let mut children = Vec::new();
    let mut v = render(store, ty, src, sels, &mut children);
    if let (Some(p), Value::Object(m)) = (parent, &mut v) {
        m.insert("__parentId".into(), Value::String(p.into()));
    }
    push_line(out, &v);
    *count += 1;
    for c in children {
        for item in c.items {
            emit(store, c.ty, item, c.sels, Some(&c.parent), out, count);
        }
    }
}

/// Render the whole bulk result: (JSONL bytes, objectCount, rootObjectCount).
pub fn bulk_jsonl(
    store: &StoreData,
    root: &Field,
    node: &[Selection],
    filter: &super::search::Filter,
) -> (Vec<u8>, u64, u64) {
    let mut out = Vec::new();
    let (mut count, mut roots) = (0u64, 0u64);
    match root.name.as_str() {
        "customers" => {
            for c in store
                .customers
                .iter()
                .filter(|c| filter.matches(c.id, c.created_at, c.updated_at))
            {
                roots += 1;
                emit(
                    store,
                    "Customer",
                    Src::Customer(c),
                    node,
                    None,
                    &mut out,
                    &mut count,
                );
            }
        }
        _ => {
            for o in store
                .orders
                .iter()
                .filter(|o| filter.matches(o.id, o.created_at, o.updated_at))
            {
                roots += 1;
                emit(
                    store,
                    "Order",
                    Src::Order(o),
                    node,
                    None,
                    &mut out,
                    &mut count,
                );
            }
        }
    }
    (out, count, roots)
}
