//! ignis-kernels-gen: turns kernel IR into machine code.
//!
//! Cranelift for the CPU and MLIR-generated PTX / AMDGPU code for GPUs arrive with the
//! compiler; until then this crate holds no code generator and claims none. It must never
//! know about graphs, autograd or the user-facing `Tensor`.

pub mod cpu;
