//! ignis-compiler: graph passes from a captured graph to a runnable program.
//!
//! `partition` splits a joint forward+backward graph into two programs. Decomposition,
//! e-graph rewriting (`rewrite`, with egg), fusion, scheduling and memory planning arrive with the optimizing
//! compiler. This crate never knows about the user-facing `Tensor` or the autograd tape.

pub mod partition;
pub mod rewrite;
