//! Compute limits: f32 matmul throughput, the figure the compute-bound workloads (W4-W6) are
//! judged against (the target is the ~224 GFLOP/s that tuned BLAS reaches on the peer machine).

use crate::cli::LimitsChoice;
use crate::timing;
use ignis::{DType, Tensor};

/// A square f32 matmul's size and its median throughput.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct MatmulLimit {
    pub size: usize,
    pub gigaflops: f64,
    pub calls: usize,
}

impl MatmulLimit {
    /// The label and the value of this limit's line in the table.
    pub fn describe(&self) -> (String, String) {
        (
            format!("f32 matmul {}^3", self.size),
            format!("{:.0} GFLOP/s (median of {} calls, 2n^3 flops)", self.gigaflops, self.calls),
        )
    }
}

/// The matmuls `choice` asks for: none, 1024^3, or 1024^3 and 4096^3.
pub fn measure(choice: LimitsChoice) -> Vec<MatmulLimit> {
    let sizes: &[(usize, usize)] = match choice {
        LimitsChoice::Bandwidth => &[],
        // (size, timed calls): a 4096^3 call is 137 GFLOP, about a second here, so fewer.
        LimitsChoice::Quick => &[(1024, 21)],
        LimitsChoice::Full => &[(1024, 21), (4096, 5)],
    };
    sizes.iter().map(|&(size, calls)| matmul(size, calls)).collect()
}

/// Median GFLOP/s of `size`^3 f32 matmuls on the eager runtime's thread pool.
pub fn matmul(size: usize, calls: usize) -> MatmulLimit {
    ignis::manual_seed(5);
    let a = Tensor::randn([size, size], DType::F32);
    let b = Tensor::randn([size, size], DType::F32);
    let timing = ignis::no_grad(|| timing::time_calls(2, calls, || a.matmul(&b)));
    let flops = 2.0 * (size as f64).powi(3);
    MatmulLimit { size, gigaflops: flops / (timing.median_ms * 1e-3) / 1e9, calls }
}
