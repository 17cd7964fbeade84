//! Tensor ops: each computes eagerly through a runtime kernel and records its VJP rule.
//!
//! One file per family. Shape and dtype rules come from `ignis_ir`; kernels from
//! `ignis_runtime::cpu`; rules for gradients are written here, in tensor ops, once.

mod binary;
mod cast;
mod combine;
mod conv;
mod device;
mod dispatch;
#[cfg(feature = "gpu")]
mod gpu;
mod index;
mod inplace;
mod linalg;
mod loss;
mod movement;
mod norm;
mod overload;
mod reduce;
mod replay;
mod unary;

pub use device::{default_device, device_name, set_default_device, synchronize};
pub(crate) use dispatch::{run_op, traced_constant};
pub(crate) use replay::replay_as_ops;

use crate::tensor::Tensor;
use ignis_ir::DType;

/// Panics with the op's name in front of a shape-rule violation.
pub(crate) fn shape_or_panic<T>(op: &str, r: Result<T, ignis_ir::ShapeError>) -> T {
    r.unwrap_or_else(|e| panic!("{op}: {e}"))
}

/// Reduces a broadcast gradient back to the shape (and dtype) of the input it flows to.
pub(crate) fn sum_to(grad: &Tensor, shape: &[usize], dtype: DType) -> Tensor {
    let mut g = grad.clone();
    if g.shape() != shape {
        let lead = g.rank() - shape.len();
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && g.shape()[lead + i] != 1 {
                axes.push((lead + i) as isize);
            }
        }
        if !axes.is_empty() {
            g = g.sum_dims(&axes, true);
        }
        g = g.reshape(shape);
    }
    if g.dtype() != dtype { g.to_dtype(dtype) } else { g }
}

pub use conv::ConvOptions;
pub use loss::{CrossEntropyOptions, Reduction};
