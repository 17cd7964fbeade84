//! Eager CPU kernels: hand-written, simple, and the reference for generated code.
//!
//! Every kernel takes `View`s (storage + layout, any strides) and returns fresh contiguous
//! `Storage`, or writes into a destination view. Contiguous inputs take fast paths that the
//! compiler vectorizes; everything else goes through `strided::Plan`.

pub mod binary;
pub mod copy;
pub mod index;
pub mod math;
pub mod reduce;
pub mod movement;
pub mod testing;
pub mod unary;

pub use binary::{binary, binary_scalar, where_select};
pub use copy::{cast, contiguous, copy_into, fill_view};
pub use reduce::reduce;
pub use index::{gather, index_add, index_select, masked_select, one_hot, scatter, scatter_add};
pub use movement::{cat, flip, pad, roll};
pub use unary::unary;
