//! Cache prefetch hints for hash tables probed at random (the diff's key tables,
//! the identity interner): asking for a slot a few rows before it is read hides
//! most of the cache miss.

/// Ask the CPU to bring `items[at]` into cache. A hint only: it never faults and
/// changes no state; an `at` past the end is ignored.
pub fn prefetch<T>(items: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = items.get(at) {
        let ptr = std::ptr::from_ref(item).cast::<i8>();
        // SAFETY: `ptr` points at an element of `items`, and a prefetch reads nothing
        // and writes nothing.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (items, at);
}
