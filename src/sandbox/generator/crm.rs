//! What HubSpot and Klaviyo already hold before lockstep's first sync, with the drift
//! of a CRM that other tools and people have been writing to: totals synced long ago
//! (stale), hand edits, customers never synced (missing), and the same person twice
//! (duplicates under an email variant).
//!
//! HubSpot properties used: email, firstname, lastname, phone, lifecyclestage,
//! shopify_customer_id, total_spent, orders_count, last_order_date (YYYY-MM-DD),
//! primary_tag (the customer's first tag).
//! Klaviyo profile properties: total_spent, orders_count, last_order_date.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::sandbox::seed::{SeedContact, SeedProfile};
use crate::sandbox::shopify::model::{Consent, Customer, Money, StoreData};

/// The totals the CRM believes in for one customer.
struct Totals {
    spent: Money,
    count: u32,
    last_order: Option<String>,
}

fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// True or stale totals: a stale record was last synced before the customer's last order.
fn totals(rng: &mut ChaCha8Rng, store: &StoreData, c: &Customer) -> Totals {
    let last = c
        .last_order_id
        .and_then(|id| store.order_idx(id))
        .map(|i| &store.orders[i]);
    let truth = Totals {
        spent: c.total_spent,
        count: c.orders_count,
        last_order: last.map(|o| date(o.created_at)),
    };
    match last {
        Some(o) if rng.random_bool(0.2) && !o.test => Totals {
            spent: c.total_spent - o.spent(),
            count: c.orders_count.saturating_sub(1),
            last_order: Some(date(o.created_at - rng.random_range(86_400..90 * 86_400))),
        },
        _ => truth,
    }
}

fn variant_email(rng: &mut ChaCha8Rng, email: &str) -> String {
    match email.split_once('@') {
        Some((l, d)) if rng.random_bool(0.5) => format!("{l}+crm@{d}"),
        _ => email.to_uppercase(),
    }
}

pub fn generate(rng: &mut ChaCha8Rng, store: &StoreData) -> (Vec<SeedContact>, Vec<SeedProfile>) {
    let mut contacts = Vec::new();
    let mut profiles = Vec::new();
    for c in &store.customers {
        let Some(email) = c.email.as_deref() else {
            continue;
        };
        if !rng.random_bool(0.10) {
            contacts.push(contact(rng, store, c, email));
            if rng.random_bool(0.02) {
                let mut dup = contact(rng, store, c, email);
                dup.properties
                    .insert("email".into(), variant_email(rng, email));
                for k in [
                    "total_spent",
                    "orders_count",
                    "last_order_date",
                    "shopify_customer_id",
                ] {
                    dup.properties.remove(k);
                }
                contacts.push(dup);
            }
        }
        let marketable = c.email_consent == Consent::Subscribed || c.orders_count > 0;
        if marketable && !rng.random_bool(0.15) {
            profiles.push(profile(rng, store, c, email));
            if rng.random_bool(0.01) {
                let mut dup = profile(rng, store, c, email);
                dup.email = Some(variant_email(rng, email));
                dup.external_id = None;
                dup.properties.clear();
                profiles.push(dup);
            }
        }
    }
    (contacts, profiles)
}

fn contact(rng: &mut ChaCha8Rng, store: &StoreData, c: &Customer, email: &str) -> SeedContact {
    let t = totals(rng, store, c);
    let mut p = BTreeMap::new();
    let email = if rng.random_bool(0.03) {
        email.to_uppercase()
    } else {
        email.to_string()
    };
    p.insert("email".to_string(), email);
    p.insert("firstname".into(), c.first_name.to_string());
    p.insert("lastname".into(), c.last_name.to_string());
    if let Some(ph) = &c.phone {
        p.insert("phone".into(), ph.to_string());
    }
    p.insert(
        "lifecyclestage".into(),
        if t.count > 0 { "customer" } else { "lead" }.into(),
    );
    p.insert("shopify_customer_id".into(), c.id.to_string());
    p.insert("total_spent".into(), t.spent.to_decimal());
    p.insert("orders_count".into(), t.count.to_string());
    if let Some(d) = t.last_order {
        p.insert("last_order_date".into(), d);
    }
    if let Some(tag) = c.tags.split(',').map(str::trim).find(|t| !t.is_empty()) {
        p.insert("primary_tag".into(), tag.to_string());
    }
    // Hand edits by the sales team.
    match rng.random_range(0..100) {
        0..2 => {
            let nick: String = c.first_name.chars().take(3).collect();
            p.insert("firstname".into(), nick);
        }
        2..4 => {
            p.insert("lifecyclestage".into(), "opportunity".into());
        }
        4..5 => {
            p.insert("phone".into(), "+10000000000".into());
        }
        _ => {}
    }
    SeedContact { properties: p }
}

fn profile(rng: &mut ChaCha8Rng, store: &StoreData, c: &Customer, email: &str) -> SeedProfile {
    let t = totals(rng, store, c);
    let mut props = serde_json::Map::new();
    props.insert("total_spent".into(), t.spent.to_number());
    props.insert("orders_count".into(), t.count.into());
    if let Some(d) = t.last_order {
        props.insert("last_order_date".into(), d.into());
    }
    SeedProfile {
        email: Some(email.to_string()),
        phone_number: c.phone.as_deref().map(String::from),
        external_id: Some(c.id.to_string()),
        first_name: Some(if rng.random_bool(0.02) {
            c.first_name.to_lowercase()
        } else {
            c.first_name.to_string()
        }),
        last_name: Some(c.last_name.to_string()),
        properties: props,
    }
}
