//! A caching CPU allocator.
//!
//! Freed buffers are kept in per-size free lists and handed out again, so that an eager
//! program allocating the same temporaries every step touches pages that are already
//! mapped: on small VMs a fresh 16 MiB buffer costs more in page faults than the op that
//! fills it. Sizes are rounded up to classes (1/8 steps between powers of two) so a
//! reused block never wastes more than 12.5%. The cache holds at most `cache_limit()`
//! bytes; beyond that blocks go back to the system.

use std::alloc::{self, Layout as AllocLayout};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Buffers are aligned for the widest SIMD loads (AVX-512) and a cache line.
pub const ALIGN: usize = 64;

/// Blocks smaller than this are not cached: the system allocator is fast for them already.
const MIN_CACHED: usize = 4096;

struct FreeLists {
    by_class: HashMap<usize, Vec<NonNull<u8>>>,
}

// SAFETY: the pointers are owned blocks not referenced elsewhere while in the free list.
unsafe impl Send for FreeLists {}

static FREE: OnceLock<Mutex<FreeLists>> = OnceLock::new();
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static CACHE_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

fn free_lists() -> &'static Mutex<FreeLists> {
    FREE.get_or_init(|| Mutex::new(FreeLists { by_class: HashMap::new() }))
}

/// The bytes actually reserved for a request of `bytes`.
pub fn size_class(bytes: usize) -> usize {
    let bytes = bytes.max(ALIGN);
    if bytes < MIN_CACHED {
        return bytes.div_ceil(ALIGN) * ALIGN;
    }
    let pow = usize::BITS - 1 - bytes.leading_zeros();
    let step = (1usize << pow) / 8;
    bytes.div_ceil(step) * step
}

/// Most bytes the cache keeps; `IGNIS_CPU_CACHE_MB` sets it, default 4 GiB.
pub fn cache_limit() -> usize {
    let limit = CACHE_LIMIT.load(Ordering::Relaxed);
    if limit != usize::MAX {
        return limit;
    }
    let mb = std::env::var("IGNIS_CPU_CACHE_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(4096);
    let limit = mb << 20;
    CACHE_LIMIT.store(limit, Ordering::Relaxed);
    limit
}

pub fn set_cache_limit(bytes: usize) {
    CACHE_LIMIT.store(bytes, Ordering::Relaxed);
    if CACHED_BYTES.load(Ordering::Relaxed) > bytes {
        empty_cache();
    }
}

/// Returns `(bytes in use by tensors, bytes cached for reuse)`.
pub fn memory_stats() -> (usize, usize) {
    (LIVE_BYTES.load(Ordering::Relaxed), CACHED_BYTES.load(Ordering::Relaxed))
}

/// Gives every cached block back to the system.
pub fn empty_cache() {
    let mut lists = free_lists().lock().unwrap_or_else(|e| e.into_inner());
    for (class, blocks) in lists.by_class.drain() {
        for ptr in blocks {
            // SAFETY: each block was allocated by `system_alloc` with this class.
            unsafe { alloc::dealloc(ptr.as_ptr(), layout_for(class)) };
            CACHED_BYTES.fetch_sub(class, Ordering::Relaxed);
        }
    }
}

fn layout_for(class: usize) -> AllocLayout {
    AllocLayout::from_size_align(class, ALIGN).expect("size class fits in isize")
}

/// Allocates an uninitialized block of at least `bytes`; returns it and its class.
pub fn allocate(bytes: usize) -> crate::Result<(NonNull<u8>, usize)> {
    let class = size_class(bytes);
    if class >= MIN_CACHED {
        let mut lists = free_lists().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ptr) = lists.by_class.get_mut(&class).and_then(|v| v.pop()) {
            CACHED_BYTES.fetch_sub(class, Ordering::Relaxed);
            LIVE_BYTES.fetch_add(class, Ordering::Relaxed);
            return Ok((ptr, class));
        }
    }
    // SAFETY: the layout has non-zero size (class >= ALIGN).
    let ptr = unsafe { alloc::alloc(layout_for(class)) };
    let ptr = NonNull::new(ptr).ok_or(crate::Error::OutOfMemory { bytes })?;
    LIVE_BYTES.fetch_add(class, Ordering::Relaxed);
    Ok((ptr, class))
}

/// Returns a block to the cache (or to the system when the cache is full).
///
/// # Safety
/// `ptr` must come from `allocate` with this `class` and must not be used afterwards.
pub unsafe fn release(ptr: NonNull<u8>, class: usize) {
    LIVE_BYTES.fetch_sub(class, Ordering::Relaxed);
    if class >= MIN_CACHED && CACHED_BYTES.load(Ordering::Relaxed) + class <= cache_limit() {
        let mut lists = free_lists().lock().unwrap_or_else(|e| e.into_inner());
        lists.by_class.entry(class).or_default().push(ptr);
        CACHED_BYTES.fetch_add(class, Ordering::Relaxed);
        return;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { alloc::dealloc(ptr.as_ptr(), layout_for(class)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_waste_at_most_an_eighth() {
        for bytes in [1, 63, 64, 65, 4095, 4096, 5000, 1 << 20, (1 << 24) + 1, 123_456_789] {
            let c = size_class(bytes);
            assert!(c >= bytes && c % ALIGN == 0);
            if bytes >= MIN_CACHED {
                assert!(c - bytes <= bytes / 8, "{bytes} -> {c}");
            }
        }
    }

    #[test]
    fn freed_blocks_are_reused() {
        let (a, class) = allocate(3_333_333).unwrap();
        unsafe { release(a, class) };
        let (b, class_b) = allocate(3_333_333).unwrap();
        assert_eq!(class, class_b);
        assert_eq!(a, b, "the cached block should be handed out again");
        unsafe { release(b, class_b) };
    }
}
