//! Changes to a store after it was built: new customers and orders, refunds,
//! cancellations, fulfilments, customer edits, inventory moves, redaction. Each keeps
//! the derived customer fields current, stamps `updated_at` with the store clock and
//! returns the webhook events it triggers (rendered by the caller, which knows JSON).

use super::model::{
    Customer, Financial, Fulfillment, IdSeq, Money, Order, Refund, RefundLine, StoreData, Ts,
};

/// A webhook-worthy change, naming the object; rendered right after the mutation.
#[derive(Clone, Debug, PartialEq)]
pub enum EventRef {
    Customer {
        topic: &'static str,
        id: u64,
    },
    Order {
        topic: &'static str,
        id: u64,
    },
    Refund {
        order_id: u64,
        refund_id: u64,
    },
    Inventory {
        inventory_item_id: u64,
        location_id: u64,
    },
    CustomerRedact {
        customer_id: u64,
        email: Option<String>,
        phone: Option<String>,
        orders: Vec<u64>,
    },
}

/// Why a mutation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MutateError {
    #[error("customer {0} not found")]
    NoCustomer(u64),
    #[error("order {0} not found")]
    NoOrder(u64),
    #[error("order {0} has nothing left to refund")]
    NothingToRefund(u64),
    #[error("order {0} is already cancelled")]
    AlreadyCancelled(u64),
    #[error("inventory level {0}/{1} not found")]
    NoInventory(u64, u64),
}

/// Allocate the order discount over its lines (pro rata, remainder on the last line)
/// and compute each line's tax on its discounted amount.
pub fn price_lines(order: &mut Order) {
    let gross: Money = order.line_items.iter().map(|l| l.gross()).sum();
    let total_discount = match &order.discount {
        Some(d) if d.kind == "percentage" => gross.scale(d.value, 100),
        Some(d) => Money(d.value.min(gross.0)),
        None => Money::ZERO,
    };
    if let Some(d) = &mut order.discount {
        d.amount = total_discount;
    }
    let n = order.line_items.len();
    let mut left = total_discount;
    for (i, li) in order.line_items.iter_mut().enumerate() {
        let share = if i + 1 == n {
            left
        } else {
            total_discount.scale(li.gross().0, gross.0.max(1))
        };
        left -= share;
        li.discount = share;
        li.tax = (li.gross() - share).scale(order.tax_rate_bp as i64, 10_000);
    }
}

/// What to refund.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefundSpec {
    /// Lines and quantities; empty with `full` = everything left.
    pub lines: Vec<(u64, u32)>,
    pub full: bool,
    pub shipping: bool,
    pub note: Option<String>,
}

/// Build a refund for `order` (not yet attached). Quantities are capped at what is
/// still refundable; the subtotal is the line's discounted price for those units.
pub fn build_refund(order: &Order, ids: &mut IdSeq, at: Ts, spec: &RefundSpec) -> Option<Refund> {
    let wanted: Vec<(u64, u32)> = if spec.full {
        order
            .line_items
            .iter()
            .map(|l| (l.id, order.refundable_qty(l.id)))
            .collect()
    } else {
        spec.lines
            .iter()
            .map(|&(id, q)| (id, q.min(order.refundable_qty(id))))
            .collect()
    };
    let mut lines = Vec::new();
    for (line_id, qty) in wanted {
        let Some(li) = order.line_items.iter().find(|l| l.id == line_id) else {
            continue;
        };
        if qty == 0 || li.quantity == 0 {
            continue;
        }
        ids.refund_line += 1;
        lines.push(RefundLine {
            id: ids.refund_line,
            line_item_id: line_id,
            quantity: qty,
            subtotal: (li.gross() - li.discount).scale(qty as i64, li.quantity as i64),
            tax: li.tax.scale(qty as i64, li.quantity as i64),
        });
    }
    let shipping = if spec.shipping || spec.full {
        order.shipping - order.refunded_shipping()
    } else {
        Money::ZERO
    };
    if lines.is_empty() && shipping.0 <= 0 {
        return None;
    }
    ids.refund += 1;
    ids.transaction += 1;
    ids.adjustment += 1;
    Some(Refund {
        id: ids.refund,
        created_at: at,
        note: spec.note.clone().map(Into::into),
        restock: !lines.is_empty(),
        lines,
        shipping,
        adjustment_id: ids.adjustment,
        transaction_id: ids.transaction,
        success: true,
    })
}

/// Financial status after refunds.
pub fn financial_after_refunds(order: &Order) -> Financial {
    if !order.financial.captured() {
        return order.financial;
    }
    let refunded = order.refunded_total();
    if refunded.0 <= 0 {
        Financial::Paid
    } else if refunded >= order.total_price() {
        Financial::Refunded
    } else {
        Financial::PartiallyRefunded
    }
}

fn touch_customer(
    store: &mut StoreData,
    id: Option<u64>,
    delta: Money,
    new_order: Option<(u64, bool)>,
) -> Option<EventRef> {
    let ci = store.customer_idx(id?)?;
    let clock = store.clock;
    let c = &mut store.customers[ci];
    c.total_spent += delta;
    if let Some((oid, test)) = new_order {
        if !test {
            c.orders_count += 1;
        }
        c.last_order_id = Some(oid);
    }
    c.updated_at = clock;
    Some(EventRef::Customer {
        topic: "customers/update",
        id: c.id,
    })
}

/// Add a new customer (id assigned here).
pub fn add_customer(store: &mut StoreData, mut c: Customer) -> (u64, Vec<EventRef>) {
    store.ids.customer += 1 + store.ids.customer % 7;
    c.id = store.ids.customer;
    c.created_at = store.clock;
    c.updated_at = store.clock;
    let id = c.id;
    store.customers.push(c);
    (
        id,
        vec![EventRef::Customer {
            topic: "customers/create",
            id,
        }],
    )
}

/// Add a new order (ids, number and pricing assigned here).
pub fn add_order(store: &mut StoreData, mut o: Order) -> (u64, Vec<EventRef>) {
    store.ids.order += 1 + store.ids.order % 13;
    store.ids.order_number += 1;
    o.id = store.ids.order;
    o.number = store.ids.order_number;
    for li in &mut o.line_items {
        store.ids.line_item += 1;
        li.id = store.ids.line_item;
    }
    price_lines(&mut o);
    o.created_at = store.clock;
    o.processed_at = store.clock;
    o.updated_at = store.clock;
    let (id, cid, test, spent, paid) = (
        o.id,
        o.customer_id,
        o.test,
        o.spent(),
        o.financial.captured(),
    );
    store.orders.push(o);
    let mut ev = vec![EventRef::Order {
        topic: "orders/create",
        id,
    }];
    if paid {
        ev.push(EventRef::Order {
            topic: "orders/paid",
            id,
        });
    }
    ev.extend(touch_customer(store, cid, spent, Some((id, test))));
    (id, ev)
}

/// Refund part or all of an order.
pub fn refund_order(
    store: &mut StoreData,
    order_id: u64,
    spec: &RefundSpec,
) -> Result<Vec<EventRef>, MutateError> {
    let oi = store
        .order_idx(order_id)
        .ok_or(MutateError::NoOrder(order_id))?;
    let clock = store.clock;
    let refund = build_refund(&store.orders[oi], &mut store.ids, clock, spec)
        .ok_or(MutateError::NothingToRefund(order_id))?;
    let refund_id = refund.id;
    let o = &mut store.orders[oi];
    let before = o.spent();
    o.refunds.push(refund);
    o.financial = financial_after_refunds(o);
    o.updated_at = clock;
    let delta = o.spent() - before;
    let cid = o.customer_id;
    let mut ev = vec![
        EventRef::Refund {
            order_id,
            refund_id,
        },
        EventRef::Order {
            topic: "orders/updated",
            id: order_id,
        },
    ];
    ev.extend(touch_customer(store, cid, delta, None));
    Ok(ev)
}

/// Cancel an order: voided if unpaid, otherwise refunded in full.
pub fn cancel_order(
    store: &mut StoreData,
    order_id: u64,
    reason: &'static str,
) -> Result<Vec<EventRef>, MutateError> {
    let oi = store
        .order_idx(order_id)
        .ok_or(MutateError::NoOrder(order_id))?;
    if store.orders[oi].cancelled_at.is_some() {
        return Err(MutateError::AlreadyCancelled(order_id));
    }
    let mut ev = Vec::new();
    if store.orders[oi].financial.captured() {
        let spec = RefundSpec {
            full: true,
            note: Some("Order canceled".into()),
            ..RefundSpec::default()
        };
        // An order refunded already has nothing left; cancelling it is still valid.
        if let Ok(more) = refund_order(store, order_id, &spec) {
            ev.extend(
                more.into_iter()
                    .filter(|e| !matches!(e, EventRef::Order { .. })),
            );
        }
    } else {
        store.orders[oi].financial = Financial::Voided;
    }
    let clock = store.clock;
    let o = &mut store.orders[oi];
    o.cancelled_at = Some(clock);
    o.cancel_reason = Some(reason);
    o.closed_at = Some(clock);
    o.updated_at = clock;
    ev.push(EventRef::Order {
        topic: "orders/cancelled",
        id: order_id,
    });
    ev.push(EventRef::Order {
        topic: "orders/updated",
        id: order_id,
    });
    Ok(ev)
}

/// Mark an order fulfilled (and archived).
pub fn fulfil_order(
    store: &mut StoreData,
    order_id: u64,
    close: bool,
) -> Result<Vec<EventRef>, MutateError> {
    let oi = store
        .order_idx(order_id)
        .ok_or(MutateError::NoOrder(order_id))?;
    let clock = store.clock;
    let o = &mut store.orders[oi];
    o.fulfillment = Fulfillment::Fulfilled;
    if close {
        o.closed_at = Some(clock);
    }
    o.updated_at = clock;
    Ok(vec![EventRef::Order {
        topic: "orders/updated",
        id: order_id,
    }])
}

/// Edit a customer's own fields.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct CustomerPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tags: Option<String>,
    pub note: Option<String>,
    pub accepts_marketing: Option<bool>,
}

pub fn update_customer(
    store: &mut StoreData,
    id: u64,
    patch: &CustomerPatch,
) -> Result<Vec<EventRef>, MutateError> {
    let ci = store.customer_idx(id).ok_or(MutateError::NoCustomer(id))?;
    let clock = store.clock;
    let c = &mut store.customers[ci];
    if let Some(v) = &patch.first_name {
        c.first_name = v.as_str().into();
    }
    if let Some(v) = &patch.last_name {
        c.last_name = v.as_str().into();
    }
    if let Some(v) = &patch.email {
        c.email = Some(v.as_str().into());
    }
    if let Some(v) = &patch.phone {
        c.phone = Some(v.as_str().into());
    }
    if let Some(v) = &patch.tags {
        c.tags = v.as_str().into();
    }
    if let Some(v) = &patch.note {
        c.note = Some(v.as_str().into());
    }
    if let Some(v) = patch.accepts_marketing {
        c.email_consent = if v {
            super::model::Consent::Subscribed
        } else {
            super::model::Consent::Unsubscribed
        };
    }
    c.updated_at = clock;
    Ok(vec![EventRef::Customer {
        topic: "customers/update",
        id,
    }])
}

/// Set an inventory level's available quantity.
pub fn set_inventory(
    store: &mut StoreData,
    item: u64,
    location: u64,
    available: i64,
) -> Result<Vec<EventRef>, MutateError> {
    let clock = store.clock;
    let lvl = store
        .inventory
        .iter_mut()
        .find(|l| l.inventory_item_id == item && l.location_id == location)
        .ok_or(MutateError::NoInventory(item, location))?;
    lvl.available = available;
    lvl.updated_at = clock;
    Ok(vec![EventRef::Inventory {
        inventory_item_id: item,
        location_id: location,
    }])
}

/// A GDPR redaction request for a customer (the store keeps the data; the app is
/// told to erase its copy).
pub fn redact_customer(store: &StoreData, id: u64) -> Result<Vec<EventRef>, MutateError> {
    let ci = store.customer_idx(id).ok_or(MutateError::NoCustomer(id))?;
    let c = &store.customers[ci];
    let orders = store
        .orders
        .iter()
        .filter(|o| o.customer_id == Some(id))
        .map(|o| o.id)
        .collect();
    Ok(vec![EventRef::CustomerRedact {
        customer_id: id,
        email: c.email.as_deref().map(String::from),
        phone: c.phone.as_deref().map(String::from),
        orders,
    }])
}
