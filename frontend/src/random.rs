//! The global random generator: a seed and a running offset into the Philox stream.
//!
//! Every random op takes the current `(seed, offset)` pair and advances the offset by what
//! it drew, so a sequence of ops is reproducible after `manual_seed`, and a compiled program
//! can be handed the same pair to draw the very same numbers.

use std::sync::Mutex;

struct Generator {
    seed: u64,
    offset: u64,
}

static GENERATOR: Mutex<Generator> = Mutex::new(Generator { seed: 0x5EED_1234_ABCD_0042, offset: 0 });

/// Seeds the global generator; the same seed gives the same random tensors.
pub fn manual_seed(seed: u64) {
    let mut g = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    g.seed = seed;
    g.offset = 0;
}

/// Reserves `count` counters of the stream and returns the `(seed, offset)` to draw them from.
pub fn seed_offset_pair(count: u64) -> (u64, u64) {
    let mut g = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let at = g.offset;
    // Each Philox counter yields four words; draws use at most one counter per element.
    g.offset += count;
    (g.seed, at)
}
