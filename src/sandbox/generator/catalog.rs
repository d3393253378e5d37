//! Products, variants, locations and inventory levels.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::names::{PRODUCT_ADJECTIVES, PRODUCT_NOUNS, VARIANT_OPTIONS, VENDORS};
use crate::sandbox::shopify::model::{InventoryLevel, Money, Product, StoreData, Ts, Variant};

const PRODUCTS: usize = 40;

pub fn generate(rng: &mut ChaCha8Rng, store: &mut StoreData, since: Ts) {
    store.location_ids = vec![65_793_425_001, 65_793_425_002];
    let mut variant_id = 44_100_000_000_000u64;
    let mut item_id = 46_200_000_000_000u64;
    for i in 0..PRODUCTS {
        let noun = PRODUCT_NOUNS[i % PRODUCT_NOUNS.len()];
        let adj = PRODUCT_ADJECTIVES[(i / PRODUCT_NOUNS.len() + i) % PRODUCT_ADJECTIVES.len()];
        let title = format!("{adj} {noun}");
        let handle = title.to_lowercase().replace(' ', "-");
        let base_price =
            Money(rng.random_range(5..150) * 100 + [0, 50, 95, 99][rng.random_range(0..4)]);
        let n_variants = rng.random_range(1..=4);
        let created = since - rng.random_range(0..365 * 86_400);
        let mut variants = Vec::with_capacity(n_variants);
        for v in 0..n_variants {
            variant_id += rng.random_range(1..50);
            item_id += rng.random_range(1..50);
            let opt = if n_variants == 1 {
                "Default Title"
            } else {
                VARIANT_OPTIONS[v % 7]
            };
            variants.push(Variant {
                id: variant_id,
                title: opt.into(),
                sku: format!("LS-{:03}-{}", i + 1, v + 1).into(),
                price: base_price + Money(v as i64 * 200),
                inventory_item_id: item_id,
            });
            for &loc in &store.location_ids {
                store.inventory.push(InventoryLevel {
                    inventory_item_id: item_id,
                    location_id: loc,
                    available: rng.random_range(-3..400),
                    updated_at: created,
                });
            }
        }
        store.products.push(Product {
            id: 8_100_000_000_000 + i as u64 * 1_117,
            title: title.into(),
            vendor: VENDORS[i % VENDORS.len()].into(),
            product_type: noun.into(),
            handle: handle.into(),
            created_at: created,
            updated_at: created + rng.random_range(0..30 * 86_400),
            variants,
        });
    }
}
