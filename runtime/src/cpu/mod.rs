//! Eager CPU kernels: hand-written, simple, and the reference for generated code.
//!
//! Every kernel takes `View`s (storage + layout, any strides) and returns fresh contiguous
//! `Storage`, or writes into a destination view. Contiguous inputs take fast paths that the
//! compiler vectorizes; everything else goes through `strided::Plan`.

pub mod accumulate;
pub mod binary;
pub mod copy;
pub mod cumsum;
pub mod math;
pub mod norm;
pub mod reduce;
pub mod unary;

pub use binary::{binary, binary_scalar, where_select};
pub use copy::{cast, contiguous, copy_into, fill_view};
pub use cumsum::cumsum;
pub use norm::{layer_norm, log_softmax, rms_norm, softmax};
pub use reduce::{logsumexp, reduce, var};
pub use unary::unary;
