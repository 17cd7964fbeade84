//! Eager CPU kernels: hand-written, simple, and the reference for generated code.
//!
//! Every kernel takes `View`s (storage + layout, any strides) and returns fresh contiguous
//! `Storage`, or writes into a destination view. Contiguous inputs take fast paths that the
//! compiler vectorizes; everything else goes through `strided::Plan`.

pub mod accumulate;
pub mod binary;
pub mod conv;
pub mod copy;
pub mod cumsum;
pub mod index;
pub mod math;
pub mod matmul;
pub mod movement;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod testing;
pub mod transpose;
pub mod unary;

pub use binary::{binary, binary_scalar, where_select};
pub use conv::{fold, unfold};
pub use copy::{cast, contiguous, copy_into, fill_view};
pub use cumsum::cumsum;
pub use index::{gather, index_add, index_select, masked_select, one_hot, scatter, scatter_add};
pub use matmul::matmul;
pub use movement::{cat, flip, pad, roll};
pub use norm::{layer_norm, log_softmax, rms_norm, softmax};
pub use pool::{
    adaptive_avg_pool2d, adaptive_avg_pool2d_backward, avg_pool2d, avg_pool2d_backward, max_pool2d,
    max_pool2d_backward, upsample_nearest2d, upsample_nearest2d_backward,
};
pub use reduce::{logsumexp, reduce, var};
pub use unary::unary;
