//! The store generator: a seeded, deterministic Shopify store with the mess of real
//! ones (guest checkouts, one person under several identities, multi-currency orders,
//! partial/full/shipping refunds, cancellations, discounts, test orders), the CRM
//! records that already exist before lockstep first syncs (with drift), and a stream
//! of new and updated records over simulated time.
//!
//! Same seed and sizes → byte-identical data: every draw comes from a ChaCha8 stream
//! derived from the seed, per phase, and nothing iterates a hash map.

mod catalog;
mod crm;
mod customers;
pub mod names;
mod orders;
pub mod stream;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::seed::{SeedContact, SeedProfile};
use super::shopify::model::{Currency, IdSeq, ShopInfo, StoreData, Ts};

pub use stream::Stream;

/// 2026-06-01T00:00:00Z: the simulated "now" at which a generated store starts.
pub const DEFAULT_START: Ts = 1_780_272_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    pub seed: u64,
    pub customers: usize,
    pub orders: usize,
    /// Simulated "now" at the end of the history.
    pub start: Ts,
    /// Length of the order history before `start`, in days.
    pub history_days: u32,
    /// Shop handle (`<shop>.myshopify.com`).
    pub shop: String,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            customers: 1_000,
            orders: 5_000,
            start: DEFAULT_START,
            history_days: 730,
            shop: "lockstep-sandbox".into(),
        }
    }
}

/// A generated store plus what the CRMs hold before the first sync.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub store: StoreData,
    pub contacts: Vec<SeedContact>,
    pub profiles: Vec<SeedProfile>,
}

/// One independent random stream per generation phase, so that a change in one phase
/// leaves the others' draws as they were.
pub(crate) fn phase_rng(seed: u64, phase: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(phase);
    rng
}

/// Generate a whole store.
pub fn generate(cfg: &GeneratorConfig) -> Generated {
    let mut store = StoreData {
        shop: ShopInfo {
            id: 548_380_009,
            name: cfg.shop.clone(),
            currency: Currency::USD,
        },
        clock: cfg.start,
        customers: Vec::new(),
        orders: Vec::new(),
        products: Vec::new(),
        addresses: Vec::new(),
        location_ids: Vec::new(),
        inventory: Vec::new(),
        ids: IdSeq::default(),
    };
    let history = i64::from(cfg.history_days) * 86_400;
    catalog::generate(&mut phase_rng(cfg.seed, 1), &mut store, cfg.start - history);
    customers::generate(
        &mut phase_rng(cfg.seed, 2),
        &mut store,
        cfg.customers,
        cfg.start - history,
        cfg.start,
    );
    orders::generate(
        &mut phase_rng(cfg.seed, 3),
        &mut store,
        cfg.orders,
        cfg.start - history,
        cfg.start,
    );
    store.recompute_customers();
    customers::bump_updated_at(&mut store);
    let (contacts, profiles) = crm::generate(&mut phase_rng(cfg.seed, 4), &store);
    Generated {
        store,
        contacts,
        profiles,
    }
}

/// The stream of changes after `cfg.start`, deterministic for the seed.
pub fn stream(cfg: &GeneratorConfig) -> Stream {
    let events = (cfg.customers + cfg.orders).max(1) as f64;
    let mean_gap = (f64::from(cfg.history_days) * 86_400.0 / events).max(1.0);
    Stream::new(phase_rng(cfg.seed, 5), cfg.start, mean_gap)
}

/// Lower-case ASCII letters and digits of `s` ("O'Neil" → "oneil"), for emails.
pub(crate) fn ascii_slug(s: &str) -> String {
    let out: String = s
        .chars()
        .filter_map(|c| match c {
            'é' | 'è' | 'ê' => Some('e'),
            'ü' => Some('u'),
            'ö' | 'ø' | 'Ø' => Some('o'),
            'ë' => Some('e'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    if out.is_empty() { "user".into() } else { out }
}
