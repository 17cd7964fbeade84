//! GPU code for kernels: a kernel written as MLIR (the gpu, scf, arith and memref dialects,
//! plus a few LLVM intrinsics), then, with the `gpu` feature, lowered by LLVM to PTX for
//! NVIDIA or AMDGPU assembly for AMD.
//!
//! The MLIR is written from the same kernel IR as the CPU code, with the same math
//! functions (`crate::math`), so the two compute alike: the differences are the order of
//! summation in reductions and the contraction of multiply-adds that the PTX back end does.
//! The text needs no LLVM to produce, so it is tested and dumped on any machine.
//!
//! A GPU kernel is specialized to its sizes: extents, strides and offsets are constants, so
//! LLVM turns the index arithmetic into multiplications by constants. Its parameters are
//! plain pointers, one per buffer, in the kernel's order. How outer points map to threads
//! is [`plan::Mapping`].

mod check;
#[cfg(feature = "gpu")]
pub mod host;
#[cfg(all(test, feature = "gpu"))]
mod host_tests;
#[cfg(feature = "gpu")]
pub mod lower;
#[cfg(all(test, feature = "gpu"))]
mod lower_tests;
mod mlir;
pub mod plan;
mod target;
#[cfg(test)]
mod tests;
#[cfg(feature = "gpu")]
pub mod tools;

pub use check::GpuCodegenError;
pub use plan::{Launch, Mapping};
pub use target::Target;

use ignis_ir::kernel::Kernel;

/// A kernel as GPU source: its MLIR module and how to launch it.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuSource {
    /// The kernel function's name in the module (an identifier derived from the kernel's).
    pub name: String,
    pub target: Target,
    /// The module: a `gpu.module` holding one `gpu.func`.
    pub mlir: String,
    pub launch: Launch,
}

/// Writes `kernel` as an MLIR module for `target`.
///
/// Fails on kernels the GPU code does not cover (buffer dtypes other than f32, f16, bf16 and
/// bool, f64 reads, and ops without generated code); those run eagerly.
pub fn write_mlir(kernel: &Kernel, target: &Target) -> Result<GpuSource, GpuCodegenError> {
    write(kernel, target, mlir::Form::Device)
}

/// Writes `kernel` as a host function that runs the launch `write_mlir` plans for `target`
/// in sequence: the same arithmetic in the same order, for checking the GPU code on a
/// machine without a GPU (`host::run`).
pub fn write_host_mlir(kernel: &Kernel, target: &Target) -> Result<GpuSource, GpuCodegenError> {
    write(kernel, target, mlir::Form::Host)
}

fn write(kernel: &Kernel, target: &Target, form: mlir::Form) -> Result<GpuSource, GpuCodegenError> {
    check::supported(kernel)?;
    let launch = plan::plan(kernel, target);
    let name = check::function_name(&kernel.name);
    let mlir = mlir::write(kernel, &name, target, &launch, form);
    Ok(GpuSource { name, target: target.clone(), mlir, launch })
}
