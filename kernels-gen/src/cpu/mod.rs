//! Native CPU code generation with Cranelift.
pub mod math;
