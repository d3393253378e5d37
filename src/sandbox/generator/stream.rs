//! The store's life after generation: new customers and orders, edits, refunds,
//! fulfilments, cancellations and stock moves, arriving at exponential gaps over
//! simulated time. Applied through the same mutations as the admin endpoints, so
//! every change stamps `updated_at` and triggers its webhooks.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::customers::phone_for;
use super::names::{CUSTOMER_TAGS, FIRST_NAMES, LAST_NAMES, NOTES};
use super::orders::make_order;
use crate::sandbox::shopify::model::{
    Consent, Currency, Customer, CustomerState, Financial, Fulfillment, StoreData, Ts,
};
use crate::sandbox::shopify::mutate::{
    self, CustomerPatch, EventRef, RefundSpec, add_customer, add_order, cancel_order, fulfil_order,
    refund_order,
};

/// A deterministic source of store changes.
#[derive(Debug, Clone)]
pub struct Stream {
    rng: ChaCha8Rng,
    next_at: Ts,
    mean_gap: f64,
    applied: u64,
}

impl Stream {
    pub fn new(rng: ChaCha8Rng, start: Ts, mean_gap: f64) -> Stream {
        let mut s = Stream {
            rng,
            next_at: start,
            mean_gap,
            applied: 0,
        };
        s.next_at = start + s.gap();
        s
    }

    fn gap(&mut self) -> i64 {
        let u: f64 = self.rng.random();
        ((-(1.0 - u).ln()) * self.mean_gap).max(1.0) as i64
    }

    /// Events applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Apply every change due up to `until`, then set the clock to `until`.
    pub fn advance_to(&mut self, store: &mut StoreData, until: Ts) -> Vec<EventRef> {
        let mut ev = Vec::new();
        while self.next_at <= until {
            ev.extend(self.step(store));
        }
        store.clock = store.clock.max(until);
        ev
    }

    /// Apply exactly one change, moving the clock to its time.
    pub fn step(&mut self, store: &mut StoreData) -> Vec<EventRef> {
        store.clock = store.clock.max(self.next_at);
        let ev = self.apply(store);
        self.applied += 1;
        self.next_at = store.clock + self.gap();
        ev
    }

    fn recent_order(
        &mut self,
        store: &StoreData,
        pred: impl Fn(&crate::sandbox::shopify::model::Order) -> bool,
    ) -> Option<u64> {
        let n = store.orders.len();
        let window = (n / 20).clamp(1, 2000).min(n);
        for _ in 0..8 {
            let i = n - 1 - self.rng.random_range(0..window.max(1));
            if pred(&store.orders[i]) {
                return Some(store.orders[i].id);
            }
        }
        None
    }

    fn apply(&mut self, store: &mut StoreData) -> Vec<EventRef> {
        let roll = self.rng.random_range(0..100);
        let no_orders =
            store.orders.is_empty() || store.customers.is_empty() || store.products.is_empty();
        if store.products.is_empty() {
            return Vec::new();
        }
        match roll {
            _ if no_orders => self.new_customer(store),
            0..35 => {
                let u: f64 = self.rng.random();
                let ci = ((store.customers.len() as f64) * u.sqrt()) as usize;
                let o = make_order(
                    &mut self.rng,
                    store,
                    Some(ci.min(store.customers.len() - 1)),
                    None,
                    store.clock,
                );
                add_order(store, o).1
            }
            35..47 => self.new_customer(store),
            47..52 => {
                let n: u32 = self.rng.random();
                let o = make_order(
                    &mut self.rng,
                    store,
                    None,
                    Some(format!("guest{n}@example.net").into()),
                    store.clock,
                );
                add_order(store, o).1
            }
            52..67 => {
                let id = store.customers[self.rng.random_range(0..store.customers.len())].id;
                let patch = match self.rng.random_range(0..4) {
                    0 => CustomerPatch {
                        tags: Some(
                            CUSTOMER_TAGS[self.rng.random_range(0..CUSTOMER_TAGS.len())].into(),
                        ),
                        ..Default::default()
                    },
                    1 => CustomerPatch {
                        note: Some(NOTES[self.rng.random_range(0..NOTES.len())].into()),
                        ..Default::default()
                    },
                    2 => CustomerPatch {
                        accepts_marketing: Some(self.rng.random_bool(0.5)),
                        ..Default::default()
                    },
                    _ => CustomerPatch {
                        phone: Some(phone_for(&mut self.rng, "US")),
                        ..Default::default()
                    },
                };
                mutate::update_customer(store, id, &patch).unwrap_or_default()
            }
            67..77 => {
                let Some(id) = self.recent_order(store, |o| {
                    o.financial == Financial::Paid && o.cancelled_at.is_none()
                }) else {
                    return Vec::new();
                };
                let full = self.rng.random_bool(0.3);
                let spec = match store.order_idx(id).map(|i| &store.orders[i]) {
                    Some(o) if !full => RefundSpec {
                        lines: vec![(o.line_items[0].id, 1)],
                        ..Default::default()
                    },
                    _ => RefundSpec {
                        full: true,
                        ..Default::default()
                    },
                };
                refund_order(store, id, &spec).unwrap_or_default()
            }
            77..92 => {
                let Some(id) = self.recent_order(store, |o| {
                    o.fulfillment != Fulfillment::Fulfilled && o.cancelled_at.is_none()
                }) else {
                    return Vec::new();
                };
                let close = self.rng.random_bool(0.5);
                fulfil_order(store, id, close).unwrap_or_default()
            }
            92..95 => {
                let Some(id) = self.recent_order(store, |o| {
                    o.cancelled_at.is_none() && o.fulfillment == Fulfillment::Unfulfilled
                }) else {
                    return Vec::new();
                };
                cancel_order(store, id, "customer").unwrap_or_default()
            }
            _ => {
                if store.inventory.is_empty() {
                    return Vec::new();
                }
                let i = self.rng.random_range(0..store.inventory.len());
                let (item, loc, avail) = {
                    let l = &store.inventory[i];
                    (l.inventory_item_id, l.location_id, l.available)
                };
                let delta = self.rng.random_range(-5..20);
                mutate::set_inventory(store, item, loc, avail + delta).unwrap_or_default()
            }
        }
    }

    fn new_customer(&mut self, store: &mut StoreData) -> Vec<EventRef> {
        let first = FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[self.rng.random_range(0..LAST_NAMES.len())];
        let n = store.customers.len();
        let email = format!(
            "{}.{}{}@gmail.com",
            super::ascii_slug(first),
            super::ascii_slug(last),
            n
        );
        let c = Customer {
            id: 0,
            email: Some(email.into()),
            phone: None,
            first_name: first.into(),
            last_name: last.into(),
            created_at: store.clock,
            updated_at: store.clock,
            state: CustomerState::Enabled,
            verified_email: true,
            email_consent: if self.rng.random_bool(0.5) {
                Consent::Subscribed
            } else {
                Consent::NotSubscribed
            },
            tags: "".into(),
            note: None,
            currency: Currency::USD,
            tax_exempt: false,
            address: None,
            orders_count: 0,
            total_spent: Default::default(),
            last_order_id: None,
        };
        let (_, mut ev) = add_customer(store, c);
        if self.rng.random_bool(0.6) {
            let o = make_order(
                &mut self.rng,
                store,
                Some(store.customers.len() - 1),
                None,
                store.clock,
            );
            ev.extend(add_order(store, o).1);
        }
        ev
    }
}
