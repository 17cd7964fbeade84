//! The machine's memory bandwidth, measured the way STREAM's copy kernel does: a parallel copy
//! of a buffer far larger than the last-level cache, bytes counted as read + written (the
//! write-allocate reads are not counted). This is the bandwidth `floor_ms` divides by.

use rayon::prelude::*;
use std::time::Instant;

/// 512 MiB per buffer: twice the 260 MiB last-level cache the peer machine reports, so the
/// copy streams from DRAM rather than from cache.
pub const DEFAULT_BUFFER_BYTES: usize = 512 << 20;
pub const DEFAULT_RUNS: usize = 5;

#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Bandwidth {
    pub bytes_per_second: f64,
    pub buffer_bytes: usize,
    pub threads: usize,
    pub runs: usize,
}

impl Bandwidth {
    pub fn gigabytes_per_second(&self) -> f64 {
        self.bytes_per_second / 1e9
    }

    /// Milliseconds to move `bytes` at this bandwidth: the floor no kernel can beat from DRAM.
    pub fn floor_ms(&self, bytes: u64) -> f64 {
        bytes as f64 / self.bytes_per_second * 1e3
    }
}

/// Best of `runs` parallel copies of `buffer_bytes` on `threads` threads.
///
/// Best rather than median because the question is what the memory system can do; other
/// processes on a shared machine only ever make a run slower.
pub fn measure(threads: usize, buffer_bytes: usize, runs: usize) -> Bandwidth {
    assert!(threads > 0 && runs > 0, "bandwidth::measure: need at least one thread and one run");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("failed to start the bandwidth thread pool");
    let words = (buffer_bytes / 8).max(1);
    // Several chunks per thread so a thread slowed by another process does not hold up the
    // others; 64-word multiples keep chunk starts on cache lines.
    let chunk = words.div_ceil(threads * 8).div_ceil(64) * 64;
    let (source, mut destination) = pool.install(|| {
        // First touch happens on the worker threads, so pages land where the copy will run.
        let mut source = vec![0u64; words];
        source.par_chunks_mut(chunk).enumerate().for_each(|(index, part)| part.fill(index as u64 + 1));
        let mut destination = vec![0u64; words];
        destination.par_chunks_mut(chunk).for_each(|part| part.fill(1));
        (source, destination)
    });
    let mut best_seconds = f64::INFINITY;
    for _ in 0..runs {
        let start = Instant::now();
        pool.install(|| {
            destination
                .par_chunks_mut(chunk)
                .zip(source.par_chunks(chunk))
                .for_each(|(to, from)| to.copy_from_slice(from));
        });
        best_seconds = best_seconds.min(start.elapsed().as_secs_f64());
        std::hint::black_box(&destination);
    }
    let moved = 2.0 * (words * 8) as f64;
    Bandwidth { bytes_per_second: moved / best_seconds, buffer_bytes: words * 8, threads, runs }
}

/// Best of `runs` copies of a `buffer_bytes` buffer on the default device (a GPU), by its
/// copy kernel, waiting for each to finish; bytes counted as read + written.
pub fn measure_device(device: ignis::Device, buffer_bytes: usize, runs: usize) -> ignis::Result<Bandwidth> {
    let words = (buffer_bytes / 4).max(1);
    let source = ignis::Tensor::ones([words], ignis::DType::F32).to_device(device)?;
    let mut best_seconds = f64::INFINITY;
    for _ in 0..=runs {
        ignis::synchronize(device)?;
        let start = Instant::now();
        let copy = ignis::no_grad(|| source.contiguous_copy());
        ignis::synchronize(device)?;
        best_seconds = best_seconds.min(start.elapsed().as_secs_f64());
        drop(copy);
    }
    let moved = 2.0 * (words * 4) as f64;
    Ok(Bandwidth { bytes_per_second: moved / best_seconds, buffer_bytes: words * 4, threads: 0, runs })
}
