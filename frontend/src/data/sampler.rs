//! The order in which a loader visits a dataset: sequential, or a seeded permutation.
//!
//! Permutations come from the same Philox generator as random tensors, keyed by a seed, so an
//! order depends only on the seed, the dataset's length and the epoch.

use ignis_runtime::random::philox;

/// Which index order each epoch uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Sampler {
    /// `0, 1, …, len - 1` every epoch.
    Sequential,
    /// A fresh permutation each epoch, derived from `seed` and the epoch number.
    Shuffled { seed: u64 },
}

impl Sampler {
    /// The indices of `0..len` in the order epoch `epoch` visits them.
    pub fn order(&self, len: usize, epoch: u64) -> Vec<usize> {
        match *self {
            Sampler::Sequential => (0..len).collect(),
            Sampler::Shuffled { seed } => permutation(len, word_pair(philox(seed, epoch))),
        }
    }
}

/// A uniformly random permutation of `0..len`, the same for the same `seed`.
pub fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    // Fisher–Yates from the top; swap `i` with a uniform position in `0..=i`.
    for i in (1..len).rev() {
        let words = philox(seed, (i / 2) as u64);
        let random = if i % 2 == 0 { word_pair(words) } else { ((words[2] as u64) << 32) | words[3] as u64 };
        // Lemire's multiply-shift maps 64 random bits onto `0..=i`; the bias is below 2^-32.
        let j = ((random as u128 * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    order
}

/// The first two words of a Philox block as one 64-bit number.
pub(crate) fn word_pair(words: [u32; 4]) -> u64 {
    ((words[0] as u64) << 32) | words[1] as u64
}
