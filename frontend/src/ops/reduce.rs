//! Reductions over dims and their gradients.

use super::run_op;
use super::shape_or_panic;
use crate::autograd::{Saved, record_out};
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, ReduceOp, shape};

impl Tensor {
    fn reduce_raw(&self, op: ReduceOp, dims: &[isize], keepdim: bool) -> (Tensor, Vec<usize>) {
        let axes = shape_or_panic(op.name(), shape::normalize_axes(dims, self.rank()));
        if matches!(op, ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin) {
            for &a in &axes {
                assert!(
                    self.shape()[a] > 0,
                    "{}: cannot reduce over dim {a} of size 0 ({}); the result would have no value",
                    op.name(),
                    self.describe()
                );
            }
        }
        let out_shape = shape::reduce(self.shape(), &axes, keepdim);
        // A 0-dim tensor reduced over "all" of its zero dims is itself (the op casts it).
        let reduce = Op::Reduce { op, axes: axes.to_vec(), keepdim };
        (run_op(reduce, &[self], op.result_dtype(self.dtype()), &out_shape), axes.to_vec())
    }

    /// Undoes a reduction's removal of `axes` so a gradient broadcasts back over them.
    fn unreduce(g: &Tensor, axes: &[usize], keepdim: bool, input_shape: &[usize]) -> Tensor {
        let mut g = g.clone();
        if !keepdim {
            for &a in axes {
                g = g.unsqueeze(a as isize);
            }
        }
        g.expand(input_shape)
    }

    /// Sum over `dims` (all dims when empty).
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let (out, axes) = self.reduce_raw(ReduceOp::Sum, dims, keepdim);
        let (input_shape, dtype) = (self.dims(), self.dtype());
        record_out("SumBackward", &[self], out, move |g| {
            vec![Some(Tensor::unreduce(g, &axes, keepdim, &input_shape).to_dtype(dtype))]
        })
    }

    pub fn sum_all(&self) -> Tensor {
        self.sum_dims(&[], false)
    }

    pub fn sum(&self, dim: isize, keepdim: bool) -> Tensor {
        self.sum_dims(&[dim], keepdim)
    }

    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let (out, axes) = self.reduce_raw(ReduceOp::Mean, dims, keepdim);
        let (input_shape, dtype) = (self.dims(), self.dtype());
        let count: usize = axes.iter().map(|&a| input_shape[a]).product();
        record_out("MeanBackward", &[self], out, move |g| {
            vec![Some(Tensor::unreduce(&g.div_scalar(count as f64), &axes, keepdim, &input_shape).to_dtype(dtype))]
        })
    }

    pub fn mean_all(&self) -> Tensor {
        self.mean_dims(&[], false)
    }

    pub fn mean(&self, dim: isize, keepdim: bool) -> Tensor {
        self.mean_dims(&[dim], keepdim)
    }

    /// Product over `dims`. Its gradient divides by the input, so inputs with zeros get
    /// NaN or infinite gradients.
    pub fn prod_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let (out, axes) = self.reduce_raw(ReduceOp::Prod, dims, keepdim);
        let input_shape = self.dims();
        let x = Saved::new("ProdBackward", self);
        let y = Saved::new("ProdBackward", &out.detach());
        let dims_back: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
        record_out("ProdBackward", &[self], out, move |g| {
            let y = if crate::is_grad_enabled() { x.get().prod_dims(&dims_back, keepdim) } else { y.get().clone() };
            let gy = Tensor::unreduce(&g.mul(&y), &axes, keepdim, &input_shape);
            vec![Some(gy.div(x.get()))]
        })
    }

    /// Max or min over `dims`; the gradient is shared evenly among tied maxima.
    fn extremum(&self, op: ReduceOp, name: &'static str, dims: &[isize], keepdim: bool) -> Tensor {
        let (out, axes) = self.reduce_raw(op, dims, keepdim);
        let input_shape = self.dims();
        let x = Saved::new(name, self);
        let y = Saved::new(name, &out.detach());
        record_out(name, &[self], out, move |g| {
            let hits = x.get().eq(&Tensor::unreduce(y.get(), &axes, keepdim, &input_shape)).to_dtype(g.dtype());
            let count = hits.sum_dims(&axes.iter().map(|&a| a as isize).collect::<Vec<_>>(), true);
            let share = Tensor::unreduce(&g.clone(), &axes, keepdim, &input_shape);
            vec![Some(share.mul(&hits).div(&count))]
        })
    }

    pub fn max_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.extremum(ReduceOp::Max, "MaxBackward", dims, keepdim)
    }
    pub fn min_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.extremum(ReduceOp::Min, "MinBackward", dims, keepdim)
    }
    pub fn max(&self, dim: isize, keepdim: bool) -> Tensor {
        self.max_dims(&[dim], keepdim)
    }
    pub fn min(&self, dim: isize, keepdim: bool) -> Tensor {
        self.min_dims(&[dim], keepdim)
    }
    pub fn max_all(&self) -> Tensor {
        self.max_dims(&[], false)
    }
    pub fn min_all(&self) -> Tensor {
        self.min_dims(&[], false)
    }

    /// Index of the largest element along `dim` (first on ties), as i64.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Tensor {
        let (out, _) = self.reduce_raw(ReduceOp::ArgMax, &[dim], keepdim);
        out
    }
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Tensor {
        let (out, _) = self.reduce_raw(ReduceOp::ArgMin, &[dim], keepdim);
        out
    }
    /// Index into the flattened tensor of its largest element.
    pub fn argmax_all(&self) -> Tensor {
        self.reshape([self.numel()]).argmax(0, false)
    }

    pub fn all_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let (out, _) = self.reduce_raw(ReduceOp::All, dims, keepdim);
        out
    }
    pub fn any_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let (out, _) = self.reduce_raw(ReduceOp::Any, dims, keepdim);
        out
    }
    pub fn all(&self) -> bool {
        self.all_dims(&[], false).item::<bool>()
    }
    pub fn any(&self) -> bool {
        self.any_dims(&[], false).item::<bool>()
    }

    /// Variance over `dims` with Bessel's `correction` (1: unbiased, as PyTorch's default).
    pub fn var_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Tensor {
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::F32) };
        let axes = shape_or_panic("var", shape::normalize_axes(dims, x.rank()));
        let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
        let dims: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
        let centered = x.sub(&x.mean_dims(&dims, true));
        let denominator = count.saturating_sub(correction) as f64;
        centered.square().sum_dims(&dims, keepdim).div_scalar(denominator)
    }

    pub fn std_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Tensor {
        self.var_dims(dims, correction, keepdim).sqrt()
    }

    pub fn var(&self, dim: isize, keepdim: bool) -> Tensor {
        self.var_dims(&[dim], 1, keepdim)
    }

    pub fn std(&self, dim: isize, keepdim: bool) -> Tensor {
        self.std_dims(&[dim], 1, keepdim)
    }

    /// Running sum along `dim` (integers accumulate in i64).
    pub fn cumsum(&self, dim: isize) -> Tensor {
        let d = self.norm_dim("cumsum", dim);
        let dtype = self.dtype();
        let out = run_op(Op::CumSum { dim: d }, &[self], ReduceOp::Sum.result_dtype(dtype), self.shape());
        record_out("CumsumBackward", &[self], out, move |g| {
            // Each input adds to every later output: the gradient is a reversed running sum.
            let d = d as isize;
            vec![Some(g.flip(&[d]).cumsum(d).flip(&[d]).to_dtype(dtype))]
        })
    }

    /// `log(sum(exp(x)))` over `dims`, computed stably around the max.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let shift = crate::no_grad(|| {
            let m = self.max_dims(dims, true);
            // A row of -inf (or +inf) would make x - m NaN; shift those rows by 0 instead.
            let finite = m.isinf().logical_not();
            finite.where_(&m, &m.zeros_like())
        });
        let summed = self.sub(&shift).exp().sum_dims(dims, true).log().add(&shift);
        if keepdim {
            summed
        } else {
            let axes = shape_or_panic("logsumexp", shape::normalize_axes(dims, self.rank()));
            let mut out = summed;
            for &a in axes.iter().rev() {
                out = out.squeeze(a as isize);
            }
            out
        }
    }
}
