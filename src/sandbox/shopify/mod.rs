//! The Shopify Admin API emulator: REST (versioned paths, cursor pagination, leaky
//! bucket), GraphQL bulk operations with a cost throttle, and outgoing webhooks.
//! `Shopify` owns the store; every change goes through [`Shopify::mutate`], which
//! renders the triggered webhooks while the change is still current.

pub mod admin;
pub mod bulk;
pub mod errors;
pub mod graphql;
pub mod lookup;
pub mod model;
pub mod mutate;
pub mod pagination;
pub mod rate_limit;
pub mod render;
pub mod rest;
pub mod values;
pub mod webhooks;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};

use self::bulk::BulkOps;
use self::graphql::{CostBucket, CostConfig};
use self::model::{StoreData, Ts, fmt_ts};
use self::mutate::EventRef;
use self::rate_limit::{BucketConfig, LeakyBucket};
use self::webhooks::Webhooks;
use crate::sandbox::chaos::Chaos;
use crate::sandbox::generator::Stream;

/// Shopify knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopifyOptions {
    pub access_token: String,
    /// The app's client secret: the webhook HMAC key.
    pub api_secret: String,
    pub bucket: BucketConfig,
    pub graphql: CostConfig,
    /// First retry delay of a failed webhook; doubles per try.
    pub webhook_retry_base: Duration,
    /// Time a bulk operation spends in each of CREATED and RUNNING.
    pub bulk_step: Duration,
    /// A bulk query whose result would hold more objects than this ends FAILED with
    /// errorCode TIMEOUT, as Shopify fails exports that run too long (0 = no limit).
    pub bulk_max_objects: u64,
    /// Results of the most recent bulk operations kept for download; older ones
    /// expire (Shopify keeps them 7 days, the sandbox keeps its memory bounded).
    pub bulk_keep_results: usize,
}

impl Default for ShopifyOptions {
    fn default() -> Self {
        ShopifyOptions {
            access_token: "shpat_lockstep_sandbox".into(),
            api_secret: "lockstep-sandbox-webhook-secret".into(),
            bucket: BucketConfig::default(),
            graphql: CostConfig::default(),
            webhook_retry_base: Duration::from_secs(60),
            bulk_step: Duration::from_millis(200),
            bulk_max_objects: 0,
            bulk_keep_results: 8,
        }
    }
}

pub struct Shopify {
    pub opts: ShopifyOptions,
    pub base_url: String,
    store: RwLock<StoreData>,
    stream: Mutex<Option<Stream>>,
    bucket: LeakyBucket,
    cost: CostBucket,
    bulk: BulkOps,
    /// Every order's `updated_at` in store order, built for bulk exports on first
    /// use and dropped by every mutation.
    order_updated: Mutex<Option<Arc<[Ts]>>>,
    pub webhooks: Arc<Webhooks>,
}

impl Shopify {
    pub fn new(
        opts: ShopifyOptions,
        base_url: String,
        store: StoreData,
        stream: Option<Stream>,
        chaos: Arc<Chaos>,
    ) -> Arc<Shopify> {
        let webhooks = Webhooks::new(
            opts.api_secret.clone(),
            store.shop.domain(),
            opts.webhook_retry_base,
            chaos,
        );
        Arc::new(Shopify {
            bucket: LeakyBucket::new(opts.bucket),
            cost: CostBucket::new(opts.graphql),
            bulk: BulkOps::default(),
            order_updated: Mutex::default(),
            opts,
            base_url,
            store: RwLock::new(store),
            stream: Mutex::new(stream),
            webhooks,
        })
    }

    /// Platform routes: `/admin/api/...`.
    pub fn router(self: &Arc<Self>) -> Router {
        rest::router(self)
    }

    /// Admin routes: `/_sandbox/shopify/...`, `/_sandbox/webhooks...`.
    pub fn admin_router(self: &Arc<Self>) -> Router {
        admin::router(self)
    }

    /// Read the store.
    pub fn read<R>(&self, f: impl FnOnce(&StoreData) -> R) -> R {
        f(&self.store.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Every order's `updated_at`, in the order of `store.orders`; `store` is what
    /// [`Shopify::read`] handed out. Cached until the next mutation (which clears
    /// it while holding the store's write lock, so a cached column always matches
    /// the store a reader sees).
    pub fn order_updated_at(&self, store: &StoreData) -> Arc<[Ts]> {
        let mut cached = self.order_updated.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref().filter(|c| c.len() == store.orders.len()) {
            return c.clone();
        }
        let built: Arc<[Ts]> = store.orders.iter().map(|o| o.updated_at).collect();
        *cached = Some(built.clone());
        built
    }

    /// Change the store and deliver the webhooks the change triggered. Returns the
    /// number of events.
    pub fn mutate<E>(
        &self,
        f: impl FnOnce(&mut StoreData, &mut Option<Stream>) -> Result<Vec<EventRef>, E>,
    ) -> Result<usize, E> {
        let rendered: Vec<(&'static str, Value, String)> = {
            let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
            let mut store = self.store.write().unwrap_or_else(|p| p.into_inner());
            *self.order_updated.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let events = f(&mut store, &mut stream)?;
            let at = fmt_ts(store.clock);
            events
                .iter()
                .filter_map(|e| render_event(&store, e))
                .map(|(t, v)| (t, v, at.clone()))
                .collect()
        };
        let n = rendered.len();
        for (topic, payload, at) in rendered {
            self.webhooks.emit(topic, &payload, &at);
        }
        Ok(n)
    }

    /// Store counts for `/_sandbox/state`.
    pub fn state_json(&self) -> Value {
        let applied = self
            .stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(Stream::applied);
        self.read(|s| {
            json!({
                "shop": s.shop.domain(),
                "clock": fmt_ts(s.clock),
                "customers": s.customers.len(),
                "orders": s.orders.len(),
                "refunds": s.orders.iter().map(|o| o.refunds.len()).sum::<usize>(),
                "products": s.products.len(),
                "inventory_levels": s.inventory.len(),
                "stream_events_applied": applied,
                "webhook_subscriptions": self.webhooks.list_json().len(),
            })
        })
    }
}

/// The topic and payload of an event, as the store stands now.
fn render_event(store: &StoreData, e: &EventRef) -> Option<(&'static str, Value)> {
    match e {
        EventRef::Customer { topic, id } => {
            let c = &store.customers[store.customer_idx(*id)?];
            Some((topic, render::customer_json(store, c)))
        }
        EventRef::Order { topic, id } => {
            let o = &store.orders[store.order_idx(*id)?];
            Some((topic, render::order_json(store, o)))
        }
        EventRef::Refund {
            order_id,
            refund_id,
        } => {
            let o = &store.orders[store.order_idx(*order_id)?];
            let r = o.refunds.iter().find(|r| r.id == *refund_id)?;
            Some(("refunds/create", render::refund_json(store, o, r)))
        }
        EventRef::Inventory {
            inventory_item_id,
            location_id,
        } => {
            let l = store.inventory.iter().find(|l| {
                l.inventory_item_id == *inventory_item_id && l.location_id == *location_id
            })?;
            Some(("inventory_levels/update", render::inventory_json(l)))
        }
        EventRef::CustomerRedact {
            customer_id,
            email,
            phone,
            orders,
        } => Some((
            "customers/redact",
            json!({
                "shop_id": store.shop.id,
                "shop_domain": store.shop.domain(),
                "customer": {"id": customer_id, "email": email, "phone": phone},
                "orders_to_redact": orders,
            }),
        )),
    }
}
