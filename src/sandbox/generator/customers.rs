//! Customers, including the same person under several identities: a `+tag` address,
//! a Gmail address with different dots (or googlemail.com), and an Apple "Hide My
//! Email" relay address that shares the person's phone through its address.
//! (Case variants of an email show up on guest checkouts; see `orders`.)

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ascii_slug;
use super::names::{CUSTOMER_TAGS, DOMAINS, FIRST_NAMES, LAST_NAMES, NOTES, PLACES, STREETS};
use crate::sandbox::shopify::model::{
    Address, Consent, Currency, Customer, CustomerState, StoreData, Ts,
};

/// Share of customers that are a second identity of an earlier one.
const ALIAS_RATE: f64 = 0.05;

pub fn generate(rng: &mut ChaCha8Rng, store: &mut StoreData, n: usize, since: Ts, until: Ts) {
    let mut times: Vec<Ts> = (0..n).map(|_| rng.random_range(since..until)).collect();
    times.sort_unstable();
    let mut id = 7_210_000_000_000u64;
    store.customers.reserve(n);
    for (i, &t) in times.iter().enumerate() {
        id += rng.random_range(1..10);
        let c = if i > 10 && rng.random_bool(ALIAS_RATE) {
            let base = rng.random_range(0..i);
            alias(rng, store, base, id, t)
        } else {
            person(rng, store, i, id, t)
        };
        store.customers.push(c);
    }
    store.ids.customer = id;
}

pub fn phone_for(rng: &mut ChaCha8Rng, country: &str) -> String {
    let prefix = match country {
        "GB" => "+447",
        "DE" => "+4915",
        "FR" => "+336",
        "ES" => "+346",
        "AU" => "+614",
        _ => "+1",
    };
    let area = rng.random_range(201..990);
    format!("{prefix}{area}{:07}", rng.random_range(0..10_000_000))
}

fn new_address(
    rng: &mut ChaCha8Rng,
    store: &mut StoreData,
    first: &str,
    last: &str,
    phone: Option<&str>,
) -> u32 {
    let (city, prov, country, zip) = PLACES[rng.random_range(0..PLACES.len())];
    store.addresses.push(Address {
        first_name: first.into(),
        last_name: last.into(),
        address1: format!(
            "{} {}",
            rng.random_range(1..999),
            STREETS[rng.random_range(0..STREETS.len())]
        )
        .into(),
        city: city.into(),
        province_code: prov.into(),
        country_code: country.into(),
        zip: format!("{zip}{:02}", rng.random_range(0..100)).into(),
        phone: phone.map(Into::into),
    });
    (store.addresses.len() - 1) as u32
}

/// A fresh person with a unique email (the index keeps it unique).
fn person(rng: &mut ChaCha8Rng, store: &mut StoreData, i: usize, id: u64, t: Ts) -> Customer {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    let (f, l) = (ascii_slug(first), ascii_slug(last));
    let local = match rng.random_range(0..4) {
        0 => format!("{f}.{l}{i}"),
        1 => format!("{f}{l}{i}"),
        2 => format!("{}{l}{i}", &f[..1]),
        _ => format!("{f}_{i}"),
    };
    // Phone-only customers (POS sign-ups) have no email.
    let email = (!rng.random_bool(0.06)).then(|| Arc::<str>::from(format!("{local}@{domain}")));
    let country = PLACES[rng.random_range(0..PLACES.len())].2;
    let phone = (rng.random_bool(0.55) || email.is_none())
        .then(|| Arc::<str>::from(phone_for(rng, country)));
    let address = rng
        .random_bool(0.85)
        .then(|| new_address(rng, store, first, last, phone.as_deref()));
    base_customer(rng, id, t, first, last, email, phone, address)
}

#[allow(clippy::too_many_arguments)]
fn base_customer(
    rng: &mut ChaCha8Rng,
    id: u64,
    t: Ts,
    first: &str,
    last: &str,
    email: Option<Arc<str>>,
    phone: Option<Arc<str>>,
    address: Option<u32>,
) -> Customer {
    let state = match rng.random_range(0..100) {
        0..60 => CustomerState::Enabled,
        60..95 => CustomerState::Disabled,
        95..98 => CustomerState::Invited,
        _ => CustomerState::Declined,
    };
    let email_consent = match rng.random_range(0..100) {
        0..45 => Consent::Subscribed,
        45..90 => Consent::NotSubscribed,
        _ => Consent::Unsubscribed,
    };
    let tags = match rng.random_range(0..10) {
        0..7 => String::new(),
        7..9 => CUSTOMER_TAGS[rng.random_range(0..CUSTOMER_TAGS.len())].to_string(),
        _ => format!(
            "{}, {}",
            CUSTOMER_TAGS[rng.random_range(0..3)],
            CUSTOMER_TAGS[rng.random_range(3..6)]
        ),
    };
    Customer {
        id,
        email,
        phone,
        first_name: first.into(),
        last_name: last.into(),
        created_at: t,
        updated_at: t,
        state,
        verified_email: rng.random_bool(0.8),
        email_consent,
        tags: tags.into(),
        note: rng
            .random_bool(0.05)
            .then(|| NOTES[rng.random_range(0..NOTES.len())].into()),
        currency: Currency::USD,
        tax_exempt: rng.random_bool(0.01),
        address,
        orders_count: 0,
        total_spent: Default::default(),
        last_order_id: None,
    }
}

/// A second customer record for the person behind customer `base`.
fn alias(rng: &mut ChaCha8Rng, store: &mut StoreData, base: usize, id: u64, t: Ts) -> Customer {
    let b = &store.customers[base];
    let (first, last) = (b.first_name.to_string(), b.last_name.to_string());
    let base_email = b.email.as_deref().map(String::from);
    let base_phone = b.phone.as_deref().map(String::from);
    let (local, domain) = match base_email.as_deref().and_then(|e| e.split_once('@')) {
        Some((l, d)) => (l.to_string(), d.to_string()),
        None => (ascii_slug(&first), "gmail.com".to_string()),
    };
    let kind = rng.random_range(0..3);
    if kind == 2 {
        // Apple relay: a random address, the person's phone only on the address.
        let phone = base_phone.unwrap_or_else(|| phone_for(rng, "US"));
        let relay: String = (0..10)
            .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
            .collect();
        let email = Arc::<str>::from(format!("{relay}@privaterelay.appleid.com"));
        let addr = new_address(rng, store, &first, &last, Some(&phone));
        return base_customer(rng, id, t, &first, &last, Some(email), None, Some(addr));
    }
    let email = if kind == 1 && (domain == "gmail.com" || domain == "googlemail.com") {
        let dotted = match local.find('.') {
            Some(_) => local.replace('.', ""),
            None if local.len() > 2 => format!("{}.{}", &local[..2], &local[2..]),
            None => format!("{local}.x"),
        };
        let dom = if rng.random_bool(0.3) {
            "googlemail.com"
        } else {
            "gmail.com"
        };
        format!("{dotted}@{dom}")
    } else {
        let tag = ["shop", "promo", "orders", "2024"][rng.random_range(0..4)];
        format!("{local}+{tag}@{domain}")
    };
    base_customer(rng, id, t, &first, &last, Some(email.into()), None, None)
}

/// A customer's `updated_at` moves whenever its orders change its totals.
pub fn bump_updated_at(store: &mut StoreData) {
    for i in 0..store.orders.len() {
        let o = &store.orders[i];
        let Some(cid) = o.customer_id else { continue };
        let last_change = o
            .refunds
            .iter()
            .map(|r| r.created_at)
            .max()
            .unwrap_or(o.created_at)
            .max(o.created_at);
        if let Some(ci) = store.customer_idx(cid) {
            let c = &mut store.customers[ci];
            c.updated_at = c.updated_at.max(last_change);
        }
    }
}
