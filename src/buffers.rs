//! Large byte buffers kept for reuse. A bulk backfill fills a few buffers of
//! hundreds of MB per window (the raw JSON of every record, and in the sandbox the
//! rendered result file), writes them out and drops them. Freed, their pages went
//! back to the allocator and came back as fresh, zeroed pages that fault on first
//! touch: about 5% of a backfill's CPU time. A buffer from a [`BytePool`] goes back
//! to it when its last user drops it, pages still mapped, for the next window.

use std::sync::{Arc, Mutex};

/// Free buffers waiting for reuse, at most `max_free` of them (the smallest go
/// first when more are returned).
#[derive(Debug)]
pub struct BytePool {
    free: Mutex<Vec<Vec<u8>>>,
    max_free: usize,
}

impl BytePool {
    /// A pool that keeps at most `max_free` buffers.
    pub fn new(max_free: usize) -> Arc<BytePool> {
        Arc::new(BytePool {
            free: Mutex::new(Vec::new()),
            max_free,
        })
    }

    /// An empty buffer with room for at least `min` bytes: the smallest free one
    /// that is large enough, else a new one. A free buffer is never grown: growing
    /// copies its whole old capacity (the allocator cannot know it is empty) into
    /// fresh pages, which is the cost this pool is here to avoid.
    pub fn take(&self, min: usize) -> Vec<u8> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let fits = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= min)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match fits {
            Some(i) => free.swap_remove(i),
            None => Vec::with_capacity(min),
        }
    }

    /// Keep `buf` for a later [`BytePool::take`].
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || self.max_free == 0 {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.push(buf);
        if free.len() > self.max_free
            && let Some(i) = free
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
        {
            free.swap_remove(i);
        }
    }

    /// `buf` as shared, immutable bytes (no copy) that return to this pool when the
    /// last clone is dropped.
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>) -> bytes::Bytes {
        bytes::Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    /// Bytes held by free buffers.
    pub fn free_bytes(&self) -> usize {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.iter().map(Vec::capacity).sum()
    }
}

/// A frozen buffer's owner: gives the buffer back on drop.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BytePool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_buffer_comes_back_when_its_last_clone_drops() {
        let pool = BytePool::new(4);
        let mut buf = pool.take(1000);
        buf.extend_from_slice(b"hello");
        let ptr = buf.as_ptr();
        let bytes = pool.freeze(buf);
        let clone = bytes.slice(1..3);
        drop(bytes);
        assert_eq!(pool.free_bytes(), 0, "a clone still holds it");
        assert_eq!(&clone[..], b"el");
        drop(clone);
        assert!(pool.free_bytes() >= 1000);
        let again = pool.take(10);
        assert_eq!(again.as_ptr(), ptr, "the same allocation is reused");
        assert!(again.is_empty());
    }

    #[test]
    fn take_picks_the_smallest_that_fits_and_the_pool_stays_bounded() {
        let pool = BytePool::new(2);
        for n in [100, 10_000, 1_000] {
            pool.give(Vec::with_capacity(n));
        }
        // Three returned, two kept: the smallest (100) was dropped.
        assert_eq!(pool.free_bytes(), 11_000);
        assert_eq!(pool.take(500).capacity(), 1_000);
        // Nothing fits 50,000: a new buffer, the free one stays.
        assert!(pool.take(50_000).capacity() >= 50_000);
        assert_eq!(pool.free_bytes(), 10_000);
        assert_eq!(pool.take(0).capacity(), 10_000);
        // An empty pool hands out new buffers.
        assert!(pool.take(7).capacity() >= 7);
    }
}
