//! Ops that build one tensor from several or rearrange elements: cat, stack, flip, roll, pad.

use super::run_op;
use super::shape_or_panic;
use crate::autograd::record_out;
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, PadMode, Scalar, shape};

impl Tensor {
    /// Joins tensors along an existing dim; dtypes are promoted to a common one.
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Tensor {
        assert!(!tensors.is_empty(), "cat: expected at least one tensor");
        let d = tensors[0].norm_dim("cat", dim);
        let dtype = tensors.iter().map(|t| t.dtype()).reduce(DType::promote).expect("non-empty");
        let converted: Vec<Tensor> = tensors.iter().map(|t| t.to_dtype_raw(dtype)).collect();
        let shapes: Vec<&[usize]> = converted.iter().map(|t| t.shape()).collect();
        let out_shape = shape_or_panic("cat", shape::concat(&shapes, d));
        let refs: Vec<&Tensor> = converted.iter().collect();
        let out = run_op(Op::Concat { dim: d }, &refs, dtype, &out_shape);
        let pieces: Vec<(usize, usize, DType)> = {
            let mut start = 0;
            tensors
                .iter()
                .map(|t| {
                    let piece = (start, t.shape()[d], t.dtype());
                    start += t.shape()[d];
                    piece
                })
                .collect()
        };
        record_out("CatBackward", tensors, out, move |g| {
            pieces.iter().map(|&(start, len, dtype)| Some(g.narrow(d as isize, start, len).to_dtype(dtype))).collect()
        })
    }

    /// Joins tensors of one shape along a new dim.
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Tensor {
        assert!(!tensors.is_empty(), "stack: expected at least one tensor");
        let first = tensors[0].shape();
        for t in tensors {
            assert_eq!(
                t.shape(),
                first,
                "stack: all tensors need one shape, got {} and {}",
                tensors[0].describe(),
                t.describe()
            );
        }
        let d = shape_or_panic("stack", shape::normalize_axis(dim, first.len() + 1)) as isize;
        let expanded: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        let refs: Vec<&Tensor> = expanded.iter().collect();
        Tensor::cat(&refs, d)
    }

    /// Reverses the order of elements along `dims`.
    pub fn flip(&self, dims: &[isize]) -> Tensor {
        let axes: Vec<usize> = dims.iter().map(|&d| self.norm_dim("flip", d)).collect();
        let out = run_op(Op::Flip { dims: axes }, &[self], self.dtype(), self.shape());
        let back = dims.to_vec();
        record_out("FlipBackward", &[self], out, move |g| vec![Some(g.flip(&back))])
    }

    /// Shifts elements cyclically by `shifts[i]` along `dims[i]` (the flattened tensor when
    /// `dims` is empty).
    pub fn roll(&self, shifts: &[isize], dims: &[isize]) -> Tensor {
        let axes: Vec<usize> = dims.iter().map(|&d| self.norm_dim("roll", d)).collect();
        let out = run_op(Op::Roll { shifts: shifts.to_vec(), dims: axes }, &[self], self.dtype(), self.shape());
        let back: Vec<isize> = shifts.iter().map(|s| -s).collect();
        let dims = dims.to_vec();
        record_out("RollBackward", &[self], out, move |g| vec![Some(g.roll(&back, &dims))])
    }

    /// Pads with PyTorch's argument order: `(left, right)` of the last dim first, then of
    /// the dim before it, and so on.
    pub fn pad(&self, pads: &[usize], mode: PadMode, value: f64) -> Tensor {
        assert!(
            pads.len().is_multiple_of(2) && pads.len() / 2 <= self.rank(),
            "pad: expected an even number of paddings for at most {} dims, got {pads:?}",
            self.rank()
        );
        let mut per_dim = vec![(0, 0); self.rank()];
        for (i, pair) in pads.chunks(2).enumerate() {
            per_dim[self.rank() - 1 - i] = (pair[0], pair[1]);
        }
        self.pad_dims(&per_dim, mode, value)
    }

    /// Pads each dim by `(before, after)`.
    pub fn pad_dims(&self, pads: &[(usize, usize)], mode: PadMode, value: f64) -> Tensor {
        assert_eq!(pads.len(), self.rank(), "pad: need one (before, after) pair per dim of {}", self.describe());
        if mode != PadMode::Constant {
            return self.pad_by_indexing(pads, mode);
        }
        let out_shape: Vec<usize> = self.shape().iter().zip(pads).map(|(&d, &(a, b))| d + a + b).collect();
        let op = Op::Pad { pads: pads.to_vec(), mode, value: Scalar::Float(value) };
        let out = run_op(op, &[self], self.dtype(), &out_shape);
        let (pads_back, input_shape) = (pads.to_vec(), self.dims());
        record_out("PadBackward", &[self], out, move |g| {
            let mut x = g.clone();
            for (d, &(before, _)) in pads_back.iter().enumerate() {
                x = x.narrow(d as isize, before, input_shape[d]);
            }
            vec![Some(x)]
        })
    }

    /// Reflect and replicate padding as an index_select per padded dim, so the gradient
    /// (an index_add that folds border contributions back) comes for free.
    fn pad_by_indexing(&self, pads: &[(usize, usize)], mode: PadMode) -> Tensor {
        let mut x = self.clone();
        for (d, &(before, after)) in pads.iter().enumerate() {
            if before == 0 && after == 0 {
                continue;
            }
            let n = x.shape()[d] as i64;
            let (b, a) = (before as i64, after as i64);
            let index: Vec<i64> = (-b..n + a)
                .map(|i| match mode {
                    PadMode::Reflect => {
                        assert!(
                            b < n && a < n,
                            "pad: reflect padding ({before}, {after}) of dim {d} must be less than its size {n}"
                        );
                        if i < 0 {
                            -i
                        } else if i >= n {
                            2 * (n - 1) - i
                        } else {
                            i
                        }
                    }
                    _ => {
                        assert!(n > 0, "pad: cannot replicate the edge of the empty dim {d}");
                        i.clamp(0, n - 1)
                    }
                })
                .collect();
            let len = index.len();
            x = x.index_select(d as isize, &Tensor::from_vec(index, len));
        }
        x
    }
}
