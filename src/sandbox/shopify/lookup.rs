//! Finding a record by id in the store's id-sorted vectors. Ids are handed out in
//! increasing order with small random gaps, as Shopify's are, so an id's position is
//! close to where a straight line between the ends puts it: interpolation finds it
//! in two or three probes where a binary search over 100k customers takes 17, each
//! a cache miss (rendering a bulk export looks up every order's customer).

use std::cmp::Ordering;

/// Interpolation probes before falling back to a binary search of what is left.
const PROBES: usize = 4;

/// The index of the item whose `key` is `id` in `items`, sorted by `key` with no
/// duplicates.
pub fn position<T>(items: &[T], id: u64, key: impl Fn(&T) -> u64) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, items.len());
    for _ in 0..PROBES {
        if hi - lo < 8 {
            break;
        }
        let (first, last) = (key(&items[lo]), key(&items[hi - 1]));
        if id < first || id > last {
            return None;
        }
        // first < last: keys are distinct and hi - lo ≥ 8.
        let offset = u128::from(id - first) * (hi - 1 - lo) as u128 / u128::from(last - first);
        // offset ≤ hi - 1 - lo, so it fits.
        let guess = lo + offset as usize;
        match key(&items[guess]).cmp(&id) {
            Ordering::Equal => return Some(guess),
            Ordering::Less => lo = guess + 1,
            Ordering::Greater => hi = guess,
        }
    }
    items[lo..hi]
        .binary_search_by_key(&id, key)
        .ok()
        .map(|i| lo + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn check(ids: &[u64]) {
        for probe in ids
            .iter()
            .flat_map(|&i| [i.saturating_sub(1), i, i.saturating_add(1)])
            .chain([0, u64::MAX])
        {
            assert_eq!(
                position(ids, probe, |&i| i),
                ids.binary_search(&probe).ok(),
                "id {probe} in {} ids",
                ids.len()
            );
        }
    }

    #[test]
    fn agrees_with_binary_search_on_dense_sparse_and_skewed_ids() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        check(&[]);
        check(&[42]);
        check(&(1..=20).collect::<Vec<u64>>());
        // Shopify-like: increasing with small random gaps.
        let mut id = 7_210_000_000_000u64;
        let sparse: Vec<u64> = (0..5_000)
            .map(|_| {
                id += rng.random_range(1..10);
                id
            })
            .collect();
        check(&sparse);
        // Skewed: a dense run, then a jump, then squares (interpolation guesses badly).
        let mut skewed: Vec<u64> = (0..1_000).collect();
        skewed.push(1 << 40);
        skewed.extend((1_001..3_000u64).map(|i| (1 << 41) + i * i));
        check(&skewed);
        check(&[0, u64::MAX - 1, u64::MAX]);
    }
}
