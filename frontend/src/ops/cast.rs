//! Dtype conversion and materializing a layout.

use crate::autograd::record;
use crate::tensor::Tensor;
use ignis_ir::DType;
use ignis_runtime::Layout;
use ignis_runtime::cpu;

impl Tensor {
    /// Converts to `dtype` (a no-op handle clone when it already is).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        let storage = cpu::cast(self.kernel_view(), dtype);
        let from = self.dtype();
        let differentiable = dtype.is_float() && from.is_float();
        let inputs: &[&Tensor] = if differentiable { &[self] } else { &[] };
        record("ToCopyBackward", inputs, storage, Layout::contiguous(self.shape()), move |g| {
            vec![Some(g.to_dtype(from))]
        })
    }

    /// The tensor itself when contiguous, else a contiguous copy.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() { self.clone() } else { self.contiguous_copy() }
    }

    /// Always a fresh contiguous copy (PyTorch's `clone()`).
    pub fn contiguous_copy(&self) -> Tensor {
        let storage = cpu::contiguous(self.kernel_view());
        record("CloneBackward", &[self], storage, Layout::contiguous(self.shape()), |g| vec![Some(g.clone())])
    }

    /// A copy with its own storage (alias of `contiguous_copy`, as PyTorch's `clone`).
    pub fn deep_clone(&self) -> Tensor {
        self.contiguous_copy()
    }
}
