//! ignis-kernels-gen: turns kernel IR (`ignis_ir::kernel::Kernel`) into machine code.
//!
//! `cpu` compiles a kernel to a native function with Cranelift: SIMD inner loops,
//! vectorized math functions, a cache of generated code. GPU code generation (MLIR) will
//! live beside it. This crate never knows about graphs, autograd or the user-facing `Tensor`.

pub mod cpu;
