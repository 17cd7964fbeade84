//! Matrix products.

use super::{shape_or_panic, sum_to};
use crate::autograd::{Saved, record};
use crate::tensor::Tensor;
use ignis_ir::{DType, shape};
use ignis_runtime::{Layout, cpu};

impl Tensor {
    /// Matrix product with PyTorch's rules: 1-d operands are treated as a row (left) or a
    /// column (right) vector and that dim is removed from the result; batch dims broadcast.
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        let out_shape =
            shape_or_panic("matmul", shape::matmul(self.shape(), other.shape())).into_iter().collect::<Vec<_>>();
        match (self.rank(), other.rank()) {
            (1, 1) => self.unsqueeze(0).matmul_nd(&other.unsqueeze(1)).reshape(out_shape),
            (1, _) => self.unsqueeze(0).matmul_nd(other).squeeze(-2),
            (_, 1) => self.matmul_nd(&other.unsqueeze(1)).squeeze(-1),
            _ => self.matmul_nd(other),
        }
    }

    /// Both operands have rank >= 2.
    fn matmul_nd(&self, other: &Tensor) -> Tensor {
        let dtype = DType::promote(self.dtype(), other.dtype());
        let (a, b) = (self.to_dtype_raw(dtype), other.to_dtype_raw(dtype));
        let (storage, out_shape) = cpu::matmul(a.kernel_view(), b.kernel_view());
        let (sa, sb) = ((self.dims(), self.dtype()), (other.dims(), other.dtype()));
        let (want_a, want_b) = (self.requires_grad(), other.requires_grad());
        let (xa, xb) = (Saved::new("MmBackward", self), Saved::new("MmBackward", other));
        record("MmBackward", &[self, other], storage, Layout::contiguous(&out_shape), move |g| {
            vec![
                want_a.then(|| sum_to(&g.matmul(&xb.get().mt()), &sa.0, sa.1)),
                want_b.then(|| sum_to(&xa.get().mt().matmul(g), &sb.0, sb.1)),
            ]
        })
    }

    /// `self @ weight^T + bias`, the affine map of a linear layer (weight is `[out, in]`).
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let y = self.matmul(&weight.t());
        match bias {
            Some(b) => y.add(b),
            None => y,
        }
    }
}
