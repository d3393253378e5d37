//! `--load FILE`: a store from JSON Lines of Admin REST customer and order objects
//! (refunds embedded in orders), so users can replay an export of their own store.
//! A line is an order when it has `line_items` (or is wrapped as `{"order": …}`),
//! else a customer (or `{"customer": …}`). Customers embedded in orders are added
//! when no customer line has their id. Products are rebuilt from line items.
//!
//! What is kept is what the compact model holds: unknown fields are dropped, money is
//! read at two decimals, a refund's transaction amount is recomputed from its lines
//! and shipping, presentment amounts other than `total_price_set` are re-derived from
//! the rate that total implies (a cent may move), and a customer's `orders_count` and
//! `total_spent` are taken from the file when present (an export may hold only some
//! of the orders).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::shopify::model::{
    Address, Consent, Currency, Customer, CustomerState, Discount, Financial, Fulfillment, IdSeq,
    LineItem, Money, Order, Product, Refund, RefundLine, ShopInfo, StoreData, Ts, Variant,
    parse_ts,
};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Strings the model keeps as `&'static str`, interned once per distinct value.
#[derive(Default)]
struct Interner(HashMap<String, &'static str>);

impl Interner {
    fn get(&mut self, s: &str) -> &'static str {
        if let Some(v) = self.0.get(s) {
            return v;
        }
        let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
        self.0.insert(s.to_string(), leaked);
        leaked
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}
fn ts(v: &Value, k: &str) -> Option<Ts> {
    s(v, k).and_then(parse_ts)
}
fn money(v: &Value, k: &str) -> Money {
    match v.get(k) {
        Some(Value::String(x)) => Money::parse(x).unwrap_or_default(),
        Some(Value::Number(n)) => Money::parse(&n.to_string()).unwrap_or_default(),
        _ => Money::ZERO,
    }
}
fn id(v: &Value, k: &str) -> Option<u64> {
    match v.get(k) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(x)) => x.rsplit('/').next().and_then(|t| t.parse().ok()),
        _ => None,
    }
}
fn arc(v: &Value, k: &str) -> Option<Arc<str>> {
    s(v, k).filter(|x| !x.is_empty()).map(Arc::from)
}

struct Loader {
    store: StoreData,
    interner: Interner,
    products: BTreeMap<u64, Product>,
    given_totals: HashMap<u64, (u32, Money)>,
}

impl Loader {
    fn address(&mut self, a: &Value) -> Option<u32> {
        if !a.is_object() {
            return None;
        }
        let f = |k: &str| -> Box<str> { s(a, k).unwrap_or("").into() };
        self.store.addresses.push(Address {
            first_name: f("first_name"),
            last_name: f("last_name"),
            address1: f("address1"),
            city: f("city"),
            province_code: f("province_code"),
            country_code: f("country_code"),
            zip: f("zip"),
            phone: s(a, "phone").map(Into::into),
        });
        Some((self.store.addresses.len() - 1) as u32)
    }

    fn customer(&mut self, v: &Value) -> Result<Customer, String> {
        let cid = id(v, "id").ok_or("customer without a numeric id")?;
        let created = ts(v, "created_at").unwrap_or(0);
        let consent = v.get("email_marketing_consent").and_then(|c| s(c, "state"));
        let address = v.get("default_address").and_then(|a| self.address(a));
        if let (Some(n), Some(t)) = (
            v.get("orders_count").and_then(Value::as_u64),
            v.get("total_spent"),
        ) {
            let spent = match t {
                Value::String(x) => Money::parse(x).unwrap_or_default(),
                other => Money::parse(&other.to_string()).unwrap_or_default(),
            };
            self.given_totals.insert(cid, (n as u32, spent));
        }
        Ok(Customer {
            id: cid,
            email: arc(v, "email"),
            phone: arc(v, "phone"),
            first_name: s(v, "first_name").unwrap_or("").into(),
            last_name: s(v, "last_name").unwrap_or("").into(),
            created_at: created,
            updated_at: ts(v, "updated_at").unwrap_or(created),
            state: match s(v, "state") {
                Some("enabled") => CustomerState::Enabled,
                Some("invited") => CustomerState::Invited,
                Some("declined") => CustomerState::Declined,
                _ => CustomerState::Disabled,
            },
            verified_email: v
                .get("verified_email")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            email_consent: match consent {
                Some("subscribed") => Consent::Subscribed,
                Some("unsubscribed") => Consent::Unsubscribed,
                _ => Consent::NotSubscribed,
            },
            tags: s(v, "tags").unwrap_or("").into(),
            note: s(v, "note").map(Into::into),
            currency: s(v, "currency")
                .and_then(Currency::parse)
                .unwrap_or(self.store.shop.currency),
            tax_exempt: v
                .get("tax_exempt")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            address,
            orders_count: 0,
            total_spent: Money::ZERO,
            last_order_id: None,
        })
    }

    fn line_item(&mut self, li: &Value) -> Result<LineItem, String> {
        let lid = id(li, "id").ok_or("line item without an id")?;
        let product_id = id(li, "product_id").unwrap_or(0);
        let variant_id = id(li, "variant_id").unwrap_or(0);
        let price = money(li, "price");
        let p = self.products.entry(product_id).or_insert_with(|| Product {
            id: product_id,
            title: s(li, "title").unwrap_or("Item").into(),
            vendor: s(li, "vendor").unwrap_or("").into(),
            product_type: "".into(),
            handle: s(li, "title")
                .unwrap_or("item")
                .to_lowercase()
                .replace(' ', "-")
                .into(),
            created_at: 0,
            updated_at: 0,
            variants: Vec::new(),
        });
        if !p.variants.iter().any(|x| x.id == variant_id) {
            p.variants.push(Variant {
                id: variant_id,
                title: s(li, "variant_title").unwrap_or("Default Title").into(),
                sku: s(li, "sku").unwrap_or("").into(),
                price,
                inventory_item_id: variant_id,
            });
        }
        let tax = li
            .get("tax_lines")
            .and_then(Value::as_array)
            .map(|t| t.iter().map(|x| money(x, "price")).sum())
            .unwrap_or_default();
        Ok(LineItem {
            id: lid,
            product_id,
            variant_id,
            quantity: li.get("quantity").and_then(Value::as_u64).unwrap_or(1) as u32,
            price,
            discount: money(li, "total_discount"),
            tax,
        })
    }

    fn refund(&mut self, r: &Value) -> Result<Refund, String> {
        let rid = id(r, "id").ok_or("refund without an id")?;
        let lines = r
            .get("refund_line_items")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .map(|l| RefundLine {
                        id: id(l, "id").unwrap_or(0),
                        line_item_id: id(l, "line_item_id").unwrap_or(0),
                        quantity: l.get("quantity").and_then(Value::as_u64).unwrap_or(0) as u32,
                        subtotal: money(l, "subtotal"),
                        tax: money(l, "total_tax"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let adjustments = r
            .get("order_adjustments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let shipping_adj = adjustments
            .iter()
            .find(|a| s(a, "kind") == Some("shipping_refund"));
        let shipping = Money(-money_or_zero(shipping_adj, "amount").0);
        let txs = r
            .get("transactions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tx = txs.iter().find(|t| s(t, "kind") == Some("refund"));
        Ok(Refund {
            id: rid,
            created_at: ts(r, "created_at").unwrap_or(0),
            note: s(r, "note").map(Into::into),
            restock: r.get("restock").and_then(Value::as_bool).unwrap_or(false),
            lines,
            shipping,
            adjustment_id: shipping_adj.and_then(|a| id(a, "id")).unwrap_or(0),
            transaction_id: tx.and_then(|t| id(t, "id")).unwrap_or(0),
            success: tx.is_none_or(|t| s(t, "status") == Some("success")),
        })
    }

    fn order(&mut self, v: &Value) -> Result<Order, String> {
        let oid = id(v, "id").ok_or("order without a numeric id")?;
        let mut line_items = Vec::new();
        for li in v
            .get("line_items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            line_items.push(self.line_item(li)?);
        }
        let mut refunds = Vec::new();
        for r in v
            .get("refunds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            refunds.push(self.refund(r)?);
        }
        let customer_id = v.get("customer").and_then(|c| id(c, "id"));
        if let Some(c) = v.get("customer").filter(|c| c.is_object())
            && let Some(cid) = customer_id
            && self.store.customers.iter().all(|x| x.id != cid)
            && let Ok(cust) = self.customer(c)
        {
            self.store.customers.push(cust);
        }
        let currency = s(v, "currency")
            .and_then(Currency::parse)
            .unwrap_or(self.store.shop.currency);
        let presentment = s(v, "presentment_currency")
            .and_then(Currency::parse)
            .unwrap_or(currency);
        let set = v.get("total_price_set");
        let shop_total = set
            .and_then(|x| x.get("shop_money"))
            .map(|m| money(m, "amount"))
            .unwrap_or_default();
        let pres_total = set
            .and_then(|x| x.get("presentment_money"))
            .map(|m| money(m, "amount"))
            .unwrap_or_default();
        let fx_ppm = if shop_total.0 > 0 && pres_total.0 > 0 {
            (pres_total.0 as i128 * 1_000_000 / shop_total.0 as i128) as u32
        } else {
            1_000_000
        };
        let discount = v
            .get("discount_codes")
            .and_then(Value::as_array)
            .and_then(|d| d.first())
            .map(|d| {
                let amount = money(d, "amount");
                Discount {
                    code: s(d, "code").unwrap_or("").into(),
                    kind: "fixed_amount",
                    value: amount.0,
                    amount,
                }
            });
        let shipping_lines = v
            .get("shipping_lines")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tax_line = v
            .get("tax_lines")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .cloned();
        let created = ts(v, "created_at").unwrap_or(0);
        let number = v.get("order_number").and_then(Value::as_u64).unwrap_or(0) as u32;
        let address_v = v
            .get("shipping_address")
            .or_else(|| v.get("billing_address"))
            .cloned();
        let address = address_v.and_then(|a| self.address(&a));
        let i = &mut self.interner;
        Ok(Order {
            id: oid,
            number,
            customer_id,
            email: arc(v, "email"),
            phone: arc(v, "phone"),
            created_at: created,
            updated_at: ts(v, "updated_at").unwrap_or(created),
            processed_at: ts(v, "processed_at").unwrap_or(created),
            cancelled_at: ts(v, "cancelled_at"),
            cancel_reason: s(v, "cancel_reason").map(|x| i.get(x)),
            closed_at: ts(v, "closed_at"),
            currency,
            presentment_currency: presentment,
            fx_ppm,
            financial: Financial::parse(s(v, "financial_status").unwrap_or("pending")),
            fulfillment: match s(v, "fulfillment_status") {
                Some("fulfilled") => Fulfillment::Fulfilled,
                Some("partial") => Fulfillment::Partial,
                _ => Fulfillment::Unfulfilled,
            },
            test: v.get("test").and_then(Value::as_bool).unwrap_or(false),
            tags: s(v, "tags").unwrap_or("").into(),
            source_name: i.get(s(v, "source_name").unwrap_or("web")),
            gateway: i.get(s(v, "gateway").unwrap_or("manual")),
            buyer_accepts_marketing: v
                .get("buyer_accepts_marketing")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            address,
            line_items,
            discount,
            shipping_title: i.get(
                shipping_lines
                    .first()
                    .and_then(|l| s(l, "title"))
                    .unwrap_or("Shipping"),
            ),
            shipping: shipping_lines.iter().map(|l| money(l, "price")).sum(),
            tax_rate_bp: tax_line
                .as_ref()
                .and_then(|t| t.get("rate"))
                .and_then(Value::as_f64)
                .map(|r| (r * 10_000.0).round() as u32)
                .unwrap_or(0),
            tax_title: i.get(
                tax_line
                    .as_ref()
                    .and_then(|t| s(t, "title"))
                    .unwrap_or("Tax"),
            ),
            refunds,
        })
    }
}

fn money_or_zero(v: Option<&Value>, k: &str) -> Money {
    v.map(|x| money(x, k)).unwrap_or_default()
}

/// Read a JSONL export into a store for `shop`.
pub fn load_jsonl(path: &Path, shop: &str) -> Result<StoreData, LoadError> {
    let file = std::fs::File::open(path).map_err(|source| LoadError::Read {
        path: path.into(),
        source,
    })?;
    let mut l = Loader {
        store: StoreData {
            shop: ShopInfo {
                id: 548_380_009,
                name: shop.to_string(),
                currency: Currency::USD,
            },
            clock: 0,
            customers: Vec::new(),
            orders: Vec::new(),
            products: Vec::new(),
            addresses: Vec::new(),
            location_ids: vec![65_793_425_001],
            inventory: Vec::new(),
            ids: IdSeq::default(),
        },
        interner: Interner::default(),
        products: BTreeMap::new(),
        given_totals: HashMap::new(),
    };
    let mut customer_lines = Vec::new();
    let mut order_lines = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| LoadError::Read {
            path: path.into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| LoadError::Parse {
            path: path.into(),
            line: n + 1,
            message,
        };
        let v: Value = serde_json::from_str(&line).map_err(|e| err(format!("not JSON: {e}")))?;
        let (kind, obj) = match (v.get("order"), v.get("customer"), v.get("line_items")) {
            (Some(o), _, _) if o.is_object() => ("order", o.clone()),
            (_, _, Some(_)) => ("order", v),
            (_, Some(c), _) if c.is_object() && v.get("id").is_none() => ("customer", c.clone()),
            _ => ("customer", v),
        };
        if kind == "order" {
            order_lines.push((n + 1, obj))
        } else {
            customer_lines.push((n + 1, obj))
        }
    }
    // Customers first, so an order's embedded customer only fills gaps.
    for (n, v) in customer_lines {
        let c = l.customer(&v).map_err(|message| LoadError::Parse {
            path: path.into(),
            line: n,
            message,
        })?;
        l.store.customers.push(c);
    }
    for (n, v) in order_lines {
        let o = l.order(&v).map_err(|message| LoadError::Parse {
            path: path.into(),
            line: n,
            message,
        })?;
        l.store.orders.push(o);
    }
    let mut store = l.store;
    store.products = l.products.into_values().collect();
    store.customers.sort_by_key(|c| c.id);
    store.customers.dedup_by_key(|c| c.id);
    store.orders.sort_by_key(|o| o.id);
    store.orders.dedup_by_key(|o| o.id);
    store.recompute_customers();
    for c in &mut store.customers {
        if let Some(&(n, spent)) = l.given_totals.get(&c.id) {
            c.orders_count = n;
            c.total_spent = spent;
        }
    }
    store.clock = store
        .orders
        .iter()
        .map(|o| o.updated_at)
        .chain(store.customers.iter().map(|c| c.updated_at))
        .max()
        .unwrap_or(0);
    let ids = &mut store.ids;
    ids.customer = store.customers.last().map_or(0, |c| c.id);
    ids.order = store.orders.last().map_or(0, |o| o.id);
    ids.order_number = store.orders.iter().map(|o| o.number).max().unwrap_or(1000);
    ids.line_item = store
        .orders
        .iter()
        .flat_map(|o| &o.line_items)
        .map(|x| x.id)
        .max()
        .unwrap_or(0);
    ids.refund = store
        .orders
        .iter()
        .flat_map(|o| &o.refunds)
        .map(|x| x.id)
        .max()
        .unwrap_or(0);
    ids.refund_line = store
        .orders
        .iter()
        .flat_map(|o| &o.refunds)
        .flat_map(|r| &r.lines)
        .map(|x| x.id)
        .max()
        .unwrap_or(0);
    ids.transaction = store
        .orders
        .iter()
        .flat_map(|o| &o.refunds)
        .map(|x| x.transaction_id)
        .max()
        .unwrap_or(0);
    ids.adjustment = store
        .orders
        .iter()
        .flat_map(|o| &o.refunds)
        .map(|x| x.adjustment_id)
        .max()
        .unwrap_or(0);
    Ok(store)
}
