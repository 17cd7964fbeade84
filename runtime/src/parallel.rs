//! The thread pool and the policy for splitting work across it.
//!
//! Small tensors stay on the calling thread: a task handoff costs microseconds, more than
//! an op on a few thousand elements. Work is split into chunks whose boundaries depend only
//! on the problem size, never on the thread count, so results are identical from run to run
//! and for any number of threads.

use std::sync::{Arc, OnceLock, RwLock};

/// Elements per task for elementwise work; below this an op runs single-threaded.
pub const ELEMENTWISE_GRAIN: usize = 1 << 15;

static POOL: OnceLock<RwLock<Arc<rayon::ThreadPool>>> = OnceLock::new();

fn build(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ignis-worker-{i}"))
            .build()
            .expect("failed to start the ignis thread pool"),
    )
}

fn default_threads() -> usize {
    std::env::var("IGNIS_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn pool_lock() -> &'static RwLock<Arc<rayon::ThreadPool>> {
    POOL.get_or_init(|| RwLock::new(build(default_threads())))
}

/// The pool eager kernels run on.
pub fn pool() -> Arc<rayon::ThreadPool> {
    pool_lock().read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Replaces the pool with one of `threads` threads (`IGNIS_NUM_THREADS` sets the default).
pub fn set_num_threads(threads: usize) {
    assert!(threads > 0, "set_num_threads: need at least one thread, got 0");
    *pool_lock().write().unwrap_or_else(|e| e.into_inner()) = build(threads);
}

/// Runs `f(start, end)` over `0..n` split into chunks of at least `grain` items.
pub fn parallel_for(n: usize, grain: usize, f: impl Fn(usize, usize) + Sync) {
    let grain = grain.max(1);
    if n <= grain || rayon::current_thread_index().is_some() && num_threads() == 1 {
        f(0, n);
        return;
    }
    let chunks = n.div_ceil(grain);
    let pool = pool();
    if pool.current_num_threads() == 1 {
        f(0, n);
        return;
    }
    pool.install(|| {
        use rayon::prelude::*;
        (0..chunks).into_par_iter().for_each(|c| {
            let start = c * grain;
            f(start, (start + grain).min(n));
        });
    });
}

/// A chunk size for `n` items: at least `grain`, and about four chunks per thread so
/// uneven threads balance, rounded to a multiple of 64 items so chunks stay aligned.
pub fn chunk_size(n: usize, grain: usize) -> usize {
    let per = n.div_ceil(num_threads() * 4).max(grain);
    per.div_ceil(64) * 64
}

/// Hands disjoint chunks of `out` to `f(start_index, chunk)`, in parallel when large.
pub fn for_chunks_mut<T: Send>(out: &mut [T], grain: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let n = out.len();
    if n <= grain {
        f(0, out);
        return;
    }
    let size = chunk_size(n, grain);
    let pool = pool();
    pool.install(|| {
        use rayon::prelude::*;
        out.par_chunks_mut(size).enumerate().for_each(|(i, chunk)| f(i * size, chunk));
    });
}

/// A raw pointer that may be sent to worker threads; each worker writes a disjoint range.
#[derive(Copy, Clone)]
pub struct SendPtr<T>(pub *mut T);
// SAFETY: users only write disjoint ranges from different threads.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub fn get(self) -> *mut T {
        self.0
    }
}
