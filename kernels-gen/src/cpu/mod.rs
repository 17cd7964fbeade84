//! Native CPU code for kernels, through Cranelift.

#[cfg(test)]
mod blocked_tests;
mod cache;
#[cfg(test)]
mod cache_tests;
mod emit;
mod f16;
#[cfg(test)]
mod grouped_tests;
mod jit;
mod loops;
mod ops;
mod perf_map;
#[cfg(test)]
mod size_argument_tests;
mod sizes;
#[cfg(test)]
pub(crate) mod tests;

pub use cache::{CacheOutcome, CacheStats, DiskCache, Entry, KernelCache, cache_stats, compile_kernel_cached};
pub use jit::{CodegenError, CompiledKernel, compile_kernel};
pub use ops::{supports_binary, supports_unary};

pub use crate::math::wide::support_table;

/// The native entry point of a kernel: runs the flattened outer points `[begin, end)` on the
/// buffers whose base pointers `buffers` lists in parameter order. `sizes` is the kernel's
/// size table ([`CompiledKernel::sizes`]); `support` must be [`support_table()`], the
/// routines the code may call.
pub type KernelFn =
    unsafe extern "C" fn(buffers: *const *mut u8, sizes: *const i64, begin: i64, end: i64, support: *const u8);
