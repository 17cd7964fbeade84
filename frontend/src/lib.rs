//! ignis: a PyTorch-style deep-learning library with a graph-capturing compiler.
//!
//! This is the crate users import: `Tensor` and its ops, autograd, and (as they arrive)
//! `nn`, `optim`, `data` and `compile()`. Eager ops run the runtime's CPU kernels; every
//! differentiable op records its vector-Jacobian rule, written once in terms of tensor ops.

pub mod autograd;
pub mod compile;
pub mod data;
mod error;
pub mod models;
pub mod nn;
mod ops;
pub mod optim;
mod random;
mod tensor;
pub mod weights;

pub use autograd::{NoGradGuard, enable_grad, is_grad_enabled, no_grad};
pub use compile::{CompileOptions, Compiled, Static, compile, compile_with, explain};
pub use error::{Error, Result};
pub use ignis_ir::{DType, PadMode, Scalar, Window2d};
pub use ignis_runtime::{Device, Element};
pub use ops::{
    ConvOptions, CrossEntropyOptions, Reduction, default_device, device_name, set_default_device, synchronize,
};
pub use random::{manual_seed, seed_offset_pair};
pub use tensor::{IntoShape, Tensor};

/// Re-exported element types for `f16`/`bf16` tensors.
pub use half::{bf16, f16};

/// Debugging compiled code: the accuracy bisector.
pub mod debug {
    pub use crate::compile::bisect::{BisectOptions, BisectReport, Divergence, bisect, bisect_with};
}

/// Thread and memory controls of the eager runtime.
pub mod runtime {
    pub use ignis_runtime::allocator::{empty_cache, memory_stats, set_cache_limit};
    pub use ignis_runtime::parallel::{num_threads, set_num_threads};
}

/// GPU devices (feature `gpu`): open ones, their names, and the host emulation that runs the
/// GPU path without a GPU.
#[cfg(feature = "gpu")]
pub mod gpu {
    pub use ignis_runtime::gpu::{GpuDevice, emulate_on_host};
}
