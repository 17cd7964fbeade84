//! Matrix products.

use super::run_op;
use super::{shape_or_panic, sum_to};
use crate::autograd::{Saved, record_out};
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, shape};

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
        let out_shape = shape_or_panic("matmul", shape::matmul(a.shape(), b.shape()));
        let out = run_op(Op::Matmul, &[&a, &b], dtype, &out_shape);
        let (sa, sb) = ((self.dims(), self.dtype()), (other.dims(), other.dtype()));
        let (want_a, want_b) = (self.requires_grad(), other.requires_grad());
        let (xa, xb) = (Saved::new("MmBackward", self), Saved::new("MmBackward", other));
        record_out("MmBackward", &[self, other], out, move |g| {
            let (a, b) = (xa.get(), xb.get());
            vec![
                want_a.then(|| {
                    if is_column_major(a) && b.rank() == 2 {
                        // Keep the gradient in the operand's layout, so that the transpose
                        // that made it (a weight's `t()`) hands back a contiguous gradient.
                        sum_to(&b.matmul(&g.mt()).mt(), &sa.0, sa.1)
                    } else {
                        sum_to(&g.matmul(&b.mt()), &sa.0, sa.1)
                    }
                }),
                want_b.then(|| {
                    if b.rank() == 2 {
                        // A matrix shared by every batch (a weight): one product over all
                        // rows rather than a batched product summed afterwards.
                        let (k, n) = (a.shape()[a.rank() - 1], g.shape()[g.rank() - 1]);
                        let rows: usize = a.shape()[..a.rank() - 1].iter().product();
                        let (a2, g2) = (a.reshape([rows, k]), g.reshape([rows, n]));
                        let grad = if is_column_major(b) { g2.mt().matmul(&a2).mt() } else { a2.mt().matmul(&g2) };
                        sum_to(&grad, &sb.0, sb.1)
                    } else {
                        sum_to(&a.mt().matmul(g), &sb.0, sb.1)
                    }
                }),
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

/// A 2-d tensor laid out column by column: the transpose of a contiguous matrix.
fn is_column_major(t: &Tensor) -> bool {
    t.rank() == 2 && t.shape()[0] > 1 && t.shape()[1] > 1 && t.strides() == [1, t.shape()[0] as isize]
}
