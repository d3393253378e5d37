//! An index from 64-bit hashes to dense ids (`0..n`, kept by the caller in a
//! list of its own), for hash tables probed at random with millions of keys (the
//! identity interner, the dedupe's winners): an open-addressing table of 64-bit
//! words (`upper half of the hash << 32 | id + 1`, 0 when empty), probed linearly
//! from the slot the upper half names and kept at most half full.
//!
//! At millions of keys every probe is a cache miss, and with a general hash table
//! the probe was most of both users' time. Here a slot is 8 bytes and can be
//! prefetched a few rows ahead of its probe; a new key (the common case) touches
//! one slot, and the caller's list is read at random only when 32 bits of hash
//! agree. A word holds all a slot needs to move when the table grows, so growing
//! reads nothing of the caller's.

/// How many rows ahead of the one being probed its slot is prefetched: enough
/// for the fetch to land, few enough that it is still cached when used.
pub const PREFETCH_AHEAD: usize = 16;

#[derive(Debug)]
pub struct SlotIndex {
    slots: Vec<u64>,
    len: usize,
}

/// What a probe found: an id whose hash shares the key's upper half, with its
/// slot (the caller compares the keys themselves), or the vacant slot where the
/// key goes. Each caller writes its own probe loop: a `find` taking the key
/// comparison as a closure made the 10M-row dedupe 0.3–0.5 s slower.
pub enum Probe {
    Candidate { id: u32, slot: usize },
    Vacant(usize),
}

impl SlotIndex {
    /// An index with room for `keys` before it first grows.
    pub fn with_capacity(keys: usize) -> Self {
        SlotIndex {
            slots: empty_slots((keys.max(8) * 2).next_power_of_two()),
            len: 0,
        }
    }

    /// The number of slots (twice the keys it holds, or more).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Fetch the slot a probe for `hash` starts at into cache.
    pub fn prefetch(&self, hash: u64) {
        crate::prefetch::prefetch(&self.slots, tag(hash) as usize & (self.slots.len() - 1));
    }

    /// The ids whose hash shares `hash`'s upper half, one at a time: `probe(hash,
    /// None)` gives the first candidate; `probe(hash, Some(slot))` with a
    /// rejected candidate's slot goes on past it, until the vacant slot ends the
    /// probe.
    pub fn probe(&self, hash: u64, after: Option<usize>) -> Probe {
        let mask = self.slots.len() - 1;
        let tag = tag(hash);
        let mut at = match after {
            None => tag as usize & mask,
            Some(slot) => (slot + 1) & mask,
        };
        loop {
            let word = self.slots[at];
            if word == 0 {
                return Probe::Vacant(at);
            }
            if word >> 32 == tag {
                let id = (word as u32).wrapping_sub(1);
                return Probe::Candidate { id, slot: at };
            }
            at = (at + 1) & mask;
        }
    }

    /// Put `id` (below `u32::MAX`: the caller bounds its ids), whose key hashes
    /// to `hash`, in the vacant slot `at` where its probe ended.
    pub fn insert(&mut self, hash: u64, at: usize, id: u32) {
        debug_assert!(id < u32::MAX && self.slots[at] == 0);
        self.slots[at] = (tag(hash) << 32) | (u64::from(id) + 1);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// Double the slots and place every word again by its tag.
    fn grow(&mut self) {
        let mut slots = empty_slots(self.slots.len() * 2);
        let mask = slots.len() - 1;
        for &word in self.slots.iter().filter(|w| **w != 0) {
            let mut at = (word >> 32) as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = word;
        }
        self.slots = slots;
    }
}

/// The part of a key's hash a slot keeps and its probe starts from. Indexes
/// never reach 2^32 slots (ids are u32), so every home is a part of it.
fn tag(hash: u64) -> u64 {
    hash >> 32
}

/// `n` empty slots, zeroed here rather than asked of the allocator zeroed: for
/// a block it has had back, mimalloc gives zeroed memory by handing the pages
/// back to the kernel and faulting them in again, and page faults are the dearest
/// thing on this kind of machine (a 10M-row dedupe faulted 250k more pages than
/// with a general hash table, and spent twice its time in the kernel).
#[allow(clippy::slow_vector_initialization)] // deliberately not `vec![0; n]`, see above
fn empty_slots(n: usize) -> Vec<u64> {
    let mut slots = Vec::with_capacity(n);
    slots.resize(n, 0);
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Find `hash`'s id whose key is `key` in `keys`, or add one: what a user of
    /// the index does, keys standing for what it compares.
    fn find_or_add(index: &mut SlotIndex, keys: &mut Vec<u32>, hash: u64, key: u32) -> u32 {
        let mut after = None;
        loop {
            match index.probe(hash, after) {
                Probe::Candidate { id, .. } if keys[id as usize] == key => return id,
                Probe::Candidate { slot, .. } => after = Some(slot),
                Probe::Vacant(at) => {
                    let id = keys.len() as u32;
                    keys.push(key);
                    index.insert(hash, at, id);
                    return id;
                }
            }
        }
    }

    #[test]
    fn keys_keep_their_ids_while_the_index_grows() {
        let (mut index, mut keys) = (SlotIndex::with_capacity(1), Vec::new());
        // Many keys, some sharing one full hash and some sharing its upper half
        // (home slot and tag) but not the rest: each must keep its own id.
        let hash_of = |k: u32| -> u64 {
            match k % 3 {
                0 => 42,
                1 => (7 << 32) | u64::from(k),
                _ => u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            }
        };
        let n = 6_000u32;
        let ids: Vec<u32> = (0..n)
            .map(|k| find_or_add(&mut index, &mut keys, hash_of(k), k))
            .collect();
        assert_eq!(keys.len(), n as usize);
        assert!(index.slots() >= 2 * n as usize);
        for k in 0..n {
            assert_eq!(
                find_or_add(&mut index, &mut keys, hash_of(k), k),
                ids[k as usize],
                "key {k}"
            );
        }
        assert_eq!(keys.len(), n as usize, "no key was added twice");
    }

    #[test]
    fn a_probe_goes_on_past_a_rejected_candidate_to_the_vacant_slot() {
        let (mut index, mut keys) = (SlotIndex::with_capacity(1), Vec::new());
        let id = find_or_add(&mut index, &mut keys, 5, 1);
        let slot = match index.probe(5, None) {
            Probe::Candidate { id: found, slot } => {
                assert_eq!(found, id);
                slot
            }
            Probe::Vacant(_) => panic!("the id was lost"),
        };
        assert!(matches!(index.probe(5, Some(slot)), Probe::Vacant(_)));
    }
}
