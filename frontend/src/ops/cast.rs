//! Dtype conversion and materializing a layout.

use super::run_op;
use crate::autograd::record_out;
use crate::tensor::Tensor;
use ignis_ir::{DType, Op};

impl Tensor {
    /// Converts to `dtype` (a no-op handle clone when it already is).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        let out = run_op(Op::Cast(dtype), &[self], dtype, self.shape());
        let from = self.dtype();
        let differentiable = dtype.is_float() && from.is_float();
        let inputs: &[&Tensor] = if differentiable { &[self] } else { &[] };
        record_out("ToCopyBackward", inputs, out, move |g| vec![Some(g.to_dtype(from))])
    }

    /// The tensor itself when contiguous, else a contiguous copy.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() { self.clone() } else { self.contiguous_copy() }
    }

    /// Always a fresh contiguous copy (PyTorch's `clone()`).
    pub fn contiguous_copy(&self) -> Tensor {
        // A cast to the same dtype is a copy, in the graph and eagerly.
        let out = run_op(Op::Cast(self.dtype()), &[self], self.dtype(), self.shape());
        record_out("CloneBackward", &[self], out, |g| vec![Some(g.clone())])
    }

    /// A copy with its own storage (alias of `contiguous_copy`, as PyTorch's `clone`).
    pub fn deep_clone(&self) -> Tensor {
        self.contiguous_copy()
    }
}
