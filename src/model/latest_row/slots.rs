//! The index of the dedupe's winners' table: from a key's hash to the entries
//! (candidate keys) whose hash shares its upper half. An open-addressing table of
//! 64-bit words (`upper half of the hash << 32 | entry + 1`, 0 when empty), probed
//! linearly from the slot the upper half names and kept at most half full,
//! beside a dense list of entries (batch, row).
//!
//! At 10M orders each dedupe table holds millions of keys, and every row's probe
//! is a cache miss: the probe was most of the dedupe's time with a general hash
//! table. Here a slot is 8 bytes and can be prefetched a few rows ahead of its
//! probe, a new key (the common case) touches one slot and appends to the
//! entries, and the entries are read at random only when 32 bits of hash agree.
//! A word holds all a slot needs to move when the table grows, so growing reads
//! no entry.

/// One candidate: where its row is (batch, row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) batch: u32,
    pub(super) row: u32,
}

/// How many rows ahead of the one being probed its slot is prefetched: enough
/// for the fetch to land, few enough that it is still cached when used.
pub(super) const PREFETCH_AHEAD: usize = 16;

/// Slots a table starts with; it doubles when half full.
const FIRST_SLOTS: usize = 1 << 10;

#[derive(Debug)]
pub(super) struct Slots {
    slots: Vec<u64>,
    entries: Vec<Entry>,
}

/// What a probe found: an entry whose hash equals the key's (the caller
/// compares the keys themselves), or the empty slot where the key goes.
pub(super) enum Probe {
    Candidate(u32),
    Vacant,
}

impl Slots {
    pub(super) fn new() -> Self {
        Slots {
            slots: empty_slots(FIRST_SLOTS),
            entries: Vec::new(),
        }
    }

    pub(super) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(super) fn entry_mut(&mut self, id: u32) -> &mut Entry {
        &mut self.entries[id as usize]
    }

    /// The slot a probe for `hash` starts at: from the upper half, the part a
    /// word keeps (`tag`).
    fn home(&self, hash: u64) -> usize {
        tag(hash) as usize & (self.slots.len() - 1)
    }

    /// Fetch the slot a probe for `hash` starts at into cache.
    pub(super) fn prefetch(&self, hash: u64) {
        crate::prefetch::prefetch(&self.slots, self.home(hash));
    }

    /// The entries whose hash shares `hash`'s upper half, one at a time:
    /// `probe(hash, &mut at)` starting with `at = None` gives the first
    /// candidate; called again with the same `at` it goes on past it, until the
    /// key's vacant slot ends the probe.
    pub(super) fn probe(&self, hash: u64, at: &mut Option<usize>) -> Probe {
        let mask = self.slots.len() - 1;
        let tag = tag(hash);
        let mut i = match *at {
            None => tag as usize & mask,
            Some(i) => (i + 1) & mask,
        };
        loop {
            let word = self.slots[i];
            if word == 0 {
                *at = Some(i);
                return Probe::Vacant;
            }
            if word >> 32 == tag {
                *at = Some(i);
                return Probe::Candidate((word as u32).wrapping_sub(1));
            }
            i = (i + 1) & mask;
        }
    }

    /// Put `entry`, whose key hashes to `hash`, in the vacant slot `at` where
    /// its probe ended.
    pub(super) fn insert(&mut self, hash: u64, at: usize, entry: Entry) -> Result<(), TooManyKeys> {
        let id = u32::try_from(self.entries.len() + 1).map_err(|_| TooManyKeys)?;
        self.slots[at] = (tag(hash) << 32) | u64::from(id);
        self.entries.push(entry);
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        Ok(())
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

/// The part of a key's hash a slot keeps and its probe starts from. Tables
/// never reach 2^32 slots (entry ids are u32), so every home is a part of it.
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

/// Entry ids are u32 with 0 reserved for an empty slot.
#[derive(Debug)]
pub(super) struct TooManyKeys;

#[cfg(test)]
mod tests {
    use super::*;

    /// Find `hash`'s entry whose row is `row`, or add one: what the dedupe does
    /// with the key comparison replaced by a row comparison.
    fn find_or_add(slots: &mut Slots, hash: u64, row: u32) -> u32 {
        let mut at = None;
        loop {
            match slots.probe(hash, &mut at) {
                Probe::Candidate(id) if slots.entries()[id as usize].row == row => return id,
                Probe::Candidate(_) => continue,
                Probe::Vacant => {
                    let id = slots.entries().len() as u32;
                    let at = at.expect("a vacant probe names its slot");
                    slots.insert(hash, at, Entry { batch: 0, row }).unwrap();
                    return id;
                }
            }
        }
    }

    #[test]
    fn keys_keep_their_entries_while_the_table_grows() {
        let mut slots = Slots::new();
        // Many keys, some sharing one full hash and some sharing its upper half
        // (home slot and tag) but not the rest: each must keep its own entry.
        let hash_of = |k: u32| -> u64 {
            match k % 3 {
                0 => 42,
                1 => (7 << 32) | u64::from(k),
                _ => u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            }
        };
        let n = 6_000u32;
        let ids: Vec<u32> = (0..n)
            .map(|k| find_or_add(&mut slots, hash_of(k), k))
            .collect();
        assert_eq!(slots.entries().len(), n as usize);
        assert!(slots.slots.len() >= 2 * n as usize);
        for k in 0..n {
            assert_eq!(
                find_or_add(&mut slots, hash_of(k), k),
                ids[k as usize],
                "key {k}"
            );
        }
        assert_eq!(slots.entries().len(), n as usize, "no key was added twice");
    }

    #[test]
    fn an_entry_updated_in_place_is_found_with_its_new_row() {
        let mut slots = Slots::new();
        let id = find_or_add(&mut slots, 5, 1);
        slots.entry_mut(id).row = 9;
        slots.entry_mut(id).batch = 3;
        let mut at = None;
        match slots.probe(5, &mut at) {
            Probe::Candidate(found) => {
                assert_eq!(found, id);
                assert_eq!(slots.entries()[id as usize], Entry { batch: 3, row: 9 });
            }
            Probe::Vacant => panic!("the entry was lost"),
        }
        // The probe goes on past the candidate to the vacant slot after it.
        assert!(matches!(slots.probe(5, &mut at), Probe::Vacant));
    }
}
