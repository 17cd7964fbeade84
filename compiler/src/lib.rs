//! ignis-compiler: graph passes from a captured graph to a runnable program.
//!
//! Decomposition, e-graph rewriting, forward/backward partitioning, fusion, scheduling and
//! memory planning arrive with `compile()`; until then this crate holds no pass and claims
//! none. It must never know about the user-facing `Tensor` or the autograd tape.
