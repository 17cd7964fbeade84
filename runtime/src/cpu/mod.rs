//! Eager CPU kernels: hand-written, simple, and the reference for generated code.
//!
//! Every kernel takes `View`s (storage + layout, any strides) and returns fresh contiguous
//! `Storage`, or writes into a destination view. Contiguous inputs take fast paths that the
//! compiler vectorizes; everything else goes through `strided::Plan`.

pub mod binary;
pub mod conv;
pub mod copy;
pub mod math;
pub mod matmul;
pub mod unary;

pub use binary::{binary, binary_scalar, where_select};
pub use conv::{fold, unfold};
pub use copy::{cast, contiguous, copy_into, fill_view};
pub use matmul::matmul;
pub use unary::unary;
