//! Wall-clock timing of repeated calls: warm-up, then the median of many timed calls.

use std::hint::black_box;
use std::time::Instant;

#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub calls: usize,
}

/// Calls `call` `warmup` times untimed, then `calls` times timed, one clock reading per call.
///
/// The result passes through `black_box` and is dropped inside the timed region: an eager
/// user pays for freeing each output too, and the allocator's reuse of it is part of what
/// the next call costs.
pub fn time_calls<T>(warmup: usize, calls: usize, mut call: impl FnMut() -> T) -> Timing {
    assert!(calls > 0, "time_calls: need at least one timed call");
    for _ in 0..warmup {
        drop(black_box(call()));
    }
    let mut samples_ms = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        drop(black_box(call()));
        samples_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Timing { median_ms: median(&mut samples_ms), min_ms: samples_ms[0], calls }
}

/// The median of `samples`, which it sorts (mean of the middle two for an even count).
pub fn median(samples: &mut [f64]) -> f64 {
    assert!(!samples.is_empty(), "median: no samples");
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    if samples.len() % 2 == 1 { samples[middle] } else { (samples[middle - 1] + samples[middle]) / 2.0 }
}
