//! ignis-kernels-gen: turns kernel IR (`ignis_ir::kernel::Kernel`) into machine code.
//!
//! `cpu` compiles a kernel to a native function with Cranelift: SIMD inner loops,
//! vectorized math functions, a cache of generated code. `gpu` writes the same kernel as
//! MLIR (gpu, scf, arith, memref) and, with the `gpu` feature, lowers it through LLVM to PTX
//! for NVIDIA and AMDGPU assembly for AMD. `math` holds the math functions both share,
//! written once. This crate never knows about graphs, autograd or the user-facing `Tensor`.

pub mod cpu;
pub mod gpu;
pub mod math;
