//! ignis-compiler: graph passes from a captured graph to a runnable program.
//!
//! `rewrite` simplifies a graph in an e-graph (egg) under a cost model of bytes and flops;
//! `partition` splits a joint forward+backward graph into two programs; `schedule` fuses a
//! graph into kernels with a memory plan; `native` generates their code and assembles a
//! runtime program; `gpu` writes the same kernels for a GPU target. This crate never knows
//! about the user-facing `Tensor` or the autograd tape.

pub mod gpu;
#[cfg(feature = "gpu")]
pub mod gpu_program;
pub mod native;
pub mod partition;
pub mod rewrite;
pub mod schedule;
