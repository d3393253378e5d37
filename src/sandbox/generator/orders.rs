//! Orders and their history: lines, discounts, shipping, taxes, presentment currency,
//! guest checkouts (some under a case variant of a customer's email), test orders,
//! cancellations (voided before payment, or refunded after), partial, full and
//! shipping-only refunds, failed refund transactions, fulfilment and archiving.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::names::{DISCOUNTS, FX, ORDER_TAGS, SHIPPING};
use crate::sandbox::shopify::model::{
    Currency, Discount, Financial, Fulfillment, LineItem, Money, Order, StoreData, Ts,
};
use crate::sandbox::shopify::mutate::{
    RefundSpec, build_refund, financial_after_refunds, price_lines,
};

const DAY: i64 = 86_400;

pub fn generate(rng: &mut ChaCha8Rng, store: &mut StoreData, n: usize, since: Ts, until: Ts) {
    let mut times: Vec<Ts> = (0..n).map(|_| rng.random_range(since..until)).collect();
    times.sort_unstable();
    store.ids.order = 5_500_000_000_000;
    store.ids.order_number = 1000;
    store.ids.line_item = 13_400_000_000_000;
    store.ids.refund = 905_000_000_000;
    store.ids.refund_line = 410_000_000_000;
    store.ids.transaction = 6_700_000_000_000;
    store.ids.adjustment = 250_000_000_000;
    store.orders.reserve(n);
    for t in times {
        let k = store.customers.partition_point(|c| c.created_at <= t);
        let mut order = if k == 0 || rng.random_bool(0.08) {
            let email = guest_email(rng, store, k);
            make_order(rng, store, None, email, t)
        } else {
            // Older customers buy more often: u² leans towards low indices.
            let u: f64 = rng.random();
            let ci = ((k as f64) * u * u) as usize;
            make_order(rng, store, Some(ci.min(k - 1)), None, t)
        };
        store.ids.order += rng.random_range(1..20);
        store.ids.order_number += 1;
        order.id = store.ids.order;
        order.number = store.ids.order_number;
        for li in &mut order.line_items {
            store.ids.line_item += 1;
            li.id = store.ids.line_item;
        }
        price_lines(&mut order);
        history(rng, store, &mut order, until);
        store.orders.push(order);
    }
}

/// A guest checkout email: fresh, a case/space variant of an existing customer's, or none.
fn guest_email(rng: &mut ChaCha8Rng, store: &StoreData, known: usize) -> Option<Arc<str>> {
    let roll = rng.random_range(0..100);
    if roll < 35 && known > 0 {
        let c = &store.customers[rng.random_range(0..known)];
        let e = c.email.as_deref()?;
        let variant: String = e
            .char_indices()
            .map(|(i, ch)| {
                if i == 0 || rng.random_bool(0.2) {
                    ch.to_ascii_uppercase()
                } else {
                    ch
                }
            })
            .collect();
        return Some(variant.into());
    }
    if roll < 90 {
        let n: u32 = rng.random();
        return Some(format!("guest{n}@example.net").into());
    }
    None
}

/// A new, unpriced order (ids 0) for the customer at `customer_idx`, or a guest.
pub fn make_order(
    rng: &mut ChaCha8Rng,
    store: &StoreData,
    customer_idx: Option<usize>,
    guest_email: Option<Arc<str>>,
    at: Ts,
) -> Order {
    let customer = customer_idx.and_then(|i| store.customers.get(i));
    let n_lines = match rng.random_range(0..100) {
        0..50 => 1,
        50..80 => 2,
        80..95 => 3,
        _ => 4,
    };
    let mut line_items = Vec::with_capacity(n_lines);
    for _ in 0..n_lines {
        let p = &store.products[rng.random_range(0..store.products.len())];
        let v = &p.variants[rng.random_range(0..p.variants.len())];
        let quantity = if rng.random_bool(0.8) {
            1
        } else {
            rng.random_range(2..4)
        };
        line_items.push(LineItem {
            id: 0,
            product_id: p.id,
            variant_id: v.id,
            quantity,
            price: v.price,
            discount: Money::ZERO,
            tax: Money::ZERO,
        });
    }
    let address = customer.and_then(|c| c.address);
    let country = store
        .address(address)
        .map(|a| a.country_code.to_string())
        .unwrap_or_else(|| "US".into());
    let (tax_rate_bp, tax_title) = match country.as_str() {
        "CA" => (1300, "HST"),
        "GB" => (2000, "VAT"),
        "DE" => (1900, "MwSt"),
        "FR" => (2000, "TVA"),
        "ES" => (2100, "IVA"),
        "AU" => (1000, "GST"),
        _ => ([0, 625, 825, 1025][rng.random_range(0..4)], "State Tax"),
    };
    let (presentment_currency, fx_ppm) = if rng.random_bool(0.22) {
        let (code, base) = FX[rng.random_range(0..FX.len())];
        let jitter = rng.random_range(-30_000i64..30_000);
        (
            Currency::parse(code).unwrap_or(Currency::USD),
            (i64::from(base) + jitter * i64::from(base) / 1_000_000) as u32,
        )
    } else {
        (Currency::USD, 1_000_000)
    };
    let discount = rng.random_bool(0.18).then(|| {
        let (code, kind, value) = DISCOUNTS[rng.random_range(0..DISCOUNTS.len())];
        Discount {
            code: code.into(),
            kind,
            value,
            amount: Money::ZERO,
        }
    });
    let (shipping_title, ship) = SHIPPING[match rng.random_range(0..100) {
        0..60 => 0,
        60..75 => 1,
        _ => 2,
    }];
    let test = rng.random_bool(0.005);
    let source_name = match rng.random_range(0..100) {
        0..85 => "web",
        85..93 => "pos",
        93..97 => "shopify_draft_order",
        _ => "iphone",
    };
    // A relay-address customer checks out with the person's real phone.
    let phone = customer.and_then(|c| c.phone.clone()).or_else(|| {
        store
            .address(address)
            .and_then(|a| a.phone.as_deref())
            .map(Arc::from)
    });
    Order {
        id: 0,
        number: 0,
        customer_id: customer.map(|c| c.id),
        email: customer.and_then(|c| c.email.clone()).or(guest_email),
        phone,
        created_at: at,
        updated_at: at,
        processed_at: at,
        cancelled_at: None,
        cancel_reason: None,
        closed_at: None,
        currency: store.shop.currency,
        presentment_currency,
        fx_ppm,
        financial: Financial::Paid,
        fulfillment: Fulfillment::Unfulfilled,
        test,
        tags: if rng.random_bool(0.1) {
            ORDER_TAGS[rng.random_range(0..ORDER_TAGS.len())].into()
        } else {
            "".into()
        },
        source_name,
        gateway: if test {
            "bogus"
        } else if source_name == "pos" {
            "cash"
        } else {
            "shopify_payments"
        },
        buyer_accepts_marketing: customer.is_some_and(|c| {
            c.email_consent == crate::sandbox::shopify::model::Consent::Subscribed
        }),
        address,
        line_items,
        discount,
        shipping_title,
        shipping: Money(ship),
        tax_rate_bp,
        tax_title,
        refunds: Vec::new(),
    }
}

/// What happened to an order between its creation and `until`.
fn history(rng: &mut ChaCha8Rng, store: &mut StoreData, o: &mut Order, until: Ts) {
    let t = o.created_at;
    let age = until - t;
    let roll = rng.random_range(0..1000);
    let mut last = t;
    if roll < 15 {
        // Cancelled before payment: voided, counts nowhere.
        let at = (t + rng.random_range(600..2 * DAY)).min(until - 1).max(t);
        o.financial = Financial::Voided;
        o.cancelled_at = Some(at);
        o.cancel_reason = Some(["customer", "inventory", "fraud"][rng.random_range(0..3)]);
        o.closed_at = Some(at);
        last = at;
    } else if roll < 30 {
        // Paid, then cancelled and refunded in full.
        let at = (t + rng.random_range(3600..3 * DAY)).min(until - 1).max(t);
        let spec = RefundSpec {
            full: true,
            note: Some("Order canceled".into()),
            ..RefundSpec::default()
        };
        if let Some(r) = build_refund(o, &mut store.ids, at, &spec) {
            o.refunds.push(r);
        }
        o.financial = financial_after_refunds(o);
        o.cancelled_at = Some(at);
        o.cancel_reason = Some("customer");
        o.closed_at = Some(at);
        last = at;
    } else if roll < 45 && age < 7 * DAY {
        o.financial = if rng.random_bool(0.5) {
            Financial::Pending
        } else {
            Financial::Authorized
        };
    } else {
        if roll < 120 {
            last = last.max(refunds(rng, store, o, until));
        }
        if age > 3 * DAY {
            o.fulfillment = if rng.random_bool(0.96) {
                Fulfillment::Fulfilled
            } else {
                Fulfillment::Partial
            };
            if o.fulfillment == Fulfillment::Fulfilled && age > 14 * DAY && rng.random_bool(0.6) {
                let at = (t + rng.random_range(5 * DAY..20 * DAY)).min(until - 1);
                o.closed_at = Some(at.max(last));
                last = last.max(at);
            }
        }
    }
    o.updated_at = (last + rng.random_range(0..3600))
        .min(until - 1)
        .max(o.created_at);
}

/// One or two refunds within 30 days; returns the last refund time.
fn refunds(rng: &mut ChaCha8Rng, store: &mut StoreData, o: &mut Order, until: Ts) -> Ts {
    let mut last = o.created_at;
    let times = if rng.random_bool(0.1) { 2 } else { 1 };
    for _ in 0..times {
        let at = last + rng.random_range(DAY..30 * DAY);
        if at >= until {
            break;
        }
        let spec = match rng.random_range(0..100) {
            0..55 => {
                let li = &o.line_items[rng.random_range(0..o.line_items.len())];
                RefundSpec {
                    lines: vec![(li.id, 1)],
                    note: Some("Damaged".into()),
                    ..RefundSpec::default()
                }
            }
            55..80 => RefundSpec {
                full: true,
                note: Some("Returned".into()),
                ..RefundSpec::default()
            },
            _ => RefundSpec {
                shipping: true,
                note: Some("Late delivery".into()),
                ..RefundSpec::default()
            },
        };
        if let Some(mut r) = build_refund(o, &mut store.ids, at, &spec) {
            r.success = !rng.random_bool(0.02);
            o.refunds.push(r);
            last = at;
        }
    }
    o.financial = financial_after_refunds(o);
    last
}
