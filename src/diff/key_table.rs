//! The hash table under the snapshot index: 128-bit key hashes → what the
//! destination last acknowledged. A diff of ten million keys makes ten million
//! random inserts and ten million random lookups into some 600 MB, so the table is
//! laid out for memory rather than generality: open addressing with linear probing
//! over flat 32-byte slots, a bitmap for "seen" (set through a shared reference),
//! room to prefetch a key's slot a few rows ahead, and the slots
//! backed by transparent huge pages where the kernel offers them (a 4 KiB page per
//! random access costs a TLB miss on nearly every probe).

use std::sync::atomic::{AtomicU64, Ordering};

/// Words per slot: key (2), row hash, and seq with the tombstone flag in its low
/// bit — 32 bytes, two slots to a cache line. An all-zero key marks an empty slot.
/// Slots are runs of plain words so that the table can be allocated zeroed
/// (straight from the kernel, untouched) without unsafe code.
const WORDS: usize = 4;

/// Slots per key: a load of 2/3. Linear probing then takes about 2 probes to find
/// a key and 5 to insert one (at 0.8 inserts took 13); every slot less is memory
/// the kernel does not have to zero.
const SLOTS_PER_KEY: (usize, usize) = (3, 2);

/// A key's entry as stored, with where it lies (for [`KeyTable::mark_seen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Fingerprint of the acknowledged row.
    pub row_hash: u64,
    /// Ordering of acknowledgements.
    pub seq: i64,
    /// Tombstone.
    pub deleted: bool,
    slot: usize,
}

impl Stored {
    /// Where the entry lies in its table.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

/// Open-addressing table of 128-bit key hashes.
pub struct KeyTable {
    words: Vec<u64>,
    seen: Vec<AtomicU64>,
    capacity: usize,
    len: usize,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.len)
            .field("slots", &self.capacity())
            .finish()
    }
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable::with_capacity(0)
    }
}

/// The stored form of a key hash. Zero marks an empty slot, so the one key hash
/// that is zero shares a slot with the one that is 1 (a chance of 2^-127).
fn stored(key: u128) -> [u64; 2] {
    let key = key.max(1);
    [key as u64, (key >> 64) as u64]
}

impl KeyTable {
    /// A table that holds `keys` keys without growing.
    pub fn with_capacity(keys: usize) -> KeyTable {
        KeyTable::allocate(keys.max(8) * SLOTS_PER_KEY.0 / SLOTS_PER_KEY.1 + 1)
    }

    fn allocate(capacity: usize) -> KeyTable {
        // A zeroed allocation this large comes straight from the kernel untouched,
        // so the huge-page advice applies before the first fault.
        let words = vec![0u64; capacity * WORDS];
        advise_huge_pages(&words);
        KeyTable {
            seen: (0..capacity.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            words,
            capacity,
            len: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn next(&self, at: usize) -> usize {
        if at + 1 == self.capacity { 0 } else { at + 1 }
    }

    fn key_at(&self, at: usize) -> [u64; 2] {
        [self.words[at * WORDS], self.words[at * WORDS + 1]]
    }

    fn stored_at(&self, at: usize) -> Stored {
        let w = &self.words[at * WORDS..(at + 1) * WORDS];
        Stored {
            row_hash: w[2],
            seq: (w[3] as i64) >> 1,
            deleted: w[3] & 1 != 0,
            slot: at,
        }
    }

    fn write(&mut self, at: usize, key: [u64; 2], row_hash: u64, seq: i64, deleted: bool) {
        self.words[at * WORDS..(at + 1) * WORDS].copy_from_slice(&[
            key[0],
            key[1],
            row_hash,
            // seq is a microsecond clock reading, far inside ±2^62.
            ((seq << 1) as u64) | u64::from(deleted),
        ]);
    }

    /// Keys stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn home(&self, key: &[u64; 2]) -> usize {
        // Multiply-shift maps the key's low word onto any table size.
        ((u128::from(key[0]) * self.capacity as u128) >> 64) as usize
    }

    /// Ask the CPU to fetch `key`'s home slot now, so that the insert or lookup a
    /// few rows later finds it in cache.
    pub fn prefetch(&self, key: u128) {
        crate::prefetch::prefetch(&self.words, self.home(&stored(key)) * WORDS);
    }

    /// Store `key`'s acknowledgement unless the table holds a later one (`seq`).
    /// Only while building: growing forgets what was marked seen.
    pub fn insert_latest(&mut self, key: u128, row_hash: u64, seq: i64, deleted: bool) {
        if (self.len + 1) * SLOTS_PER_KEY.0 > self.capacity() * SLOTS_PER_KEY.1 + 8 {
            self.grow();
        }
        let key = stored(key);
        let mut at = self.home(&key);
        loop {
            let there = self.key_at(at);
            if there == [0, 0] {
                self.write(at, key, row_hash, seq, deleted);
                self.len += 1;
                return;
            }
            if there == key {
                if seq > self.stored_at(at).seq {
                    self.write(at, key, row_hash, seq, deleted);
                }
                return;
            }
            at = self.next(at);
        }
    }

    fn grow(&mut self) {
        let mut bigger = KeyTable::allocate(self.capacity() * 2);
        for (key, e) in self.iter() {
            bigger.insert_latest(key, e.row_hash, e.seq, e.deleted);
        }
        *self = bigger;
    }

    /// The entry of `key`.
    pub fn get(&self, key: u128) -> Option<Stored> {
        let key = stored(key);
        let mut at = self.home(&key);
        loop {
            let there = self.key_at(at);
            if there == key {
                return Some(self.stored_at(at));
            }
            if there == [0, 0] {
                return None;
            }
            at = self.next(at);
        }
    }

    /// Mark the entry in `slot` seen; true when it already was.
    pub fn mark_seen(&self, slot: usize) -> bool {
        let bit = 1u64 << (slot % 64);
        self.seen[slot / 64].fetch_or(bit, Ordering::Relaxed) & bit != 0
    }

    /// The key stored in `slot` (of an entry this table returned).
    pub fn key_in(&self, slot: usize) -> u128 {
        let key = self.key_at(slot);
        u128::from(key[0]) | (u128::from(key[1]) << 64)
    }

    /// Whether the entry in `slot` was marked seen.
    pub fn is_seen(&self, slot: usize) -> bool {
        let bit = 1u64 << (slot % 64);
        self.seen[slot / 64].load(Ordering::Relaxed) & bit != 0
    }

    /// Every key with its entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, Stored)> + '_ {
        (0..self.capacity()).filter_map(|at| {
            let key = self.key_at(at);
            (key != [0, 0]).then(|| {
                let key = u128::from(key[0]) | (u128::from(key[1]) << 64);
                (key, self.stored_at(at))
            })
        })
    }
}

/// Ask for transparent huge pages over the whole 2 MiB pages inside `words`.
#[cfg(target_os = "linux")]
fn advise_huge_pages(words: &[u64]) {
    const HUGE: usize = 2 << 20;
    let start = words.as_ptr() as usize;
    let end = start + std::mem::size_of_val(words);
    let first = start.next_multiple_of(HUGE);
    if end <= first + HUGE {
        return;
    }
    let len = (end - first) / HUGE * HUGE;
    // SAFETY: madvise(MADV_HUGEPAGE) only changes how the kernel backs pages of
    // this process's own allocation (the range lies inside `words`); it does not
    // change their contents or validity. A refusal (no THP support) is harmless.
    unsafe {
        libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_words: &[u64]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_acknowledgement_and_grows() {
        let mut t = KeyTable::with_capacity(0);
        for k in 0..10_000u128 {
            let key = k.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
            t.insert_latest(key, k as u64, 1, false);
        }
        let key7 = 7u128.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        t.insert_latest(key7, 70, 2, true);
        t.insert_latest(key7, 71, -5, false);
        t.insert_latest(key7, 700, 0, false);
        assert_eq!(t.len(), 10_000);
        let e = t.get(key7).unwrap();
        assert_eq!((e.row_hash, e.seq, e.deleted), (70, 2, true));
        assert!(t.get(12345).is_none());
        assert_eq!(t.iter().count(), 10_000);
        assert!(t.iter().any(|(k, e)| k == key7 && e.row_hash == 70));
    }

    #[test]
    fn seen_is_marked_once() {
        let mut t = KeyTable::with_capacity(4);
        t.insert_latest(5, 1, 1, false);
        t.insert_latest(6, 2, 1, false);
        let e = t.get(5).unwrap();
        assert!(!t.is_seen(e.slot()));
        assert!(!t.mark_seen(e.slot()));
        assert!(t.mark_seen(e.slot()));
        assert_eq!(t.key_in(e.slot()), 5);
        assert!(t.is_seen(e.slot()));
        assert!(!t.is_seen(t.get(6).unwrap().slot()));
    }

    #[test]
    fn colliding_homes_probe_on() {
        // Same low 64 bits, different high bits: one home slot.
        let mut t = KeyTable::with_capacity(8);
        for hi in 1..=6u128 {
            t.insert_latest((hi << 64) | 3, hi as u64, 1, false);
        }
        for hi in 1..=6u128 {
            assert_eq!(t.get((hi << 64) | 3).unwrap().row_hash, hi as u64);
        }
        assert!(t.get((7 << 64) | 3).is_none());
        t.prefetch((7 << 64) | 3);
    }
}
