//! Indexing: select, gather, scatter, masks, one-hot and embedding lookups.

use super::run_op;
use super::shape_or_panic;
use crate::autograd::record_out;
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, shape};

impl Tensor {
    fn check_index_dtype(&self, op: &str) {
        assert!(
            matches!(self.dtype(), DType::I64 | DType::I32),
            "{op}: indices must be i64 or i32, got {}",
            self.describe()
        );
    }

    /// Rows (along `dim`) picked by a 1-d `index`.
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Tensor {
        index.check_index_dtype("index_select");
        let d = self.norm_dim("index_select", dim);
        let mut out_shape = self.dims();
        out_shape[d] = index.numel();
        let out = run_op(Op::IndexSelect { dim: d }, &[self, index], self.dtype(), &out_shape);
        let (input_shape, dtype, index) = (self.dims(), self.dtype(), index.clone());
        record_out("IndexSelectBackward", &[self], out, move |g| {
            vec![Some(Tensor::zeros(input_shape.clone(), dtype).index_add(d as isize, &index, g))]
        })
    }

    /// `self` with `src`'s rows added at the positions `index` names along `dim`.
    pub fn index_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Tensor {
        index.check_index_dtype("index_add");
        let d = self.norm_dim("index_add", dim);
        let src_c = src.to_dtype_raw(self.dtype());
        let out = run_op(Op::IndexAdd { dim: d }, &[self, index, &src_c], self.dtype(), self.shape());
        let (index, src_dtype) = (index.clone(), src.dtype());
        record_out("IndexAddBackward", &[self, src], out, move |g| {
            vec![Some(g.clone()), Some(g.index_select(d as isize, &index).to_dtype(src_dtype))]
        })
    }

    /// `out[i][j] = self[index[i][j]][j]` for dim 0 (and likewise for other dims).
    pub fn gather(&self, dim: isize, index: &Tensor) -> Tensor {
        index.check_index_dtype("gather");
        let d = self.norm_dim("gather", dim);
        let out = run_op(Op::Gather { dim: d }, &[self, index], self.dtype(), index.shape());
        let (input_shape, dtype, idx) = (self.dims(), self.dtype(), index.clone());
        record_out("GatherBackward", &[self], out, move |g| {
            vec![Some(Tensor::zeros(input_shape.clone(), dtype).scatter_add(d as isize, &idx, g))]
        })
    }

    /// A copy of `self` with `src` written where `index` points along `dim`
    /// (with repeated indices the last write wins).
    pub fn scatter(&self, dim: isize, index: &Tensor, src: &Tensor) -> Tensor {
        index.check_index_dtype("scatter");
        let d = self.norm_dim("scatter", dim);
        let src_c = src.to_dtype_raw(self.dtype());
        let out = run_op(Op::Scatter { dim: d }, &[self, index, &src_c], self.dtype(), self.shape());
        let (idx, src_shape, src_dtype) = (index.clone(), src.dims(), src.dtype());
        record_out("ScatterBackward", &[self, src], out, move |g| {
            // Overwritten positions pass no gradient to `self`; `src` gets what landed.
            let through = g.scatter(d as isize, &idx, &Tensor::zeros(idx.dims(), g.dtype()));
            let to_src = g.gather(d as isize, &idx);
            vec![Some(through), Some(pad_to(&to_src, &src_shape).to_dtype(src_dtype))]
        })
    }

    /// A copy of `self` with `src` added where `index` points along `dim`.
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Tensor {
        index.check_index_dtype("scatter_add");
        let d = self.norm_dim("scatter_add", dim);
        let src_c = src.to_dtype_raw(self.dtype());
        let out = run_op(Op::ScatterAdd { dim: d }, &[self, index, &src_c], self.dtype(), self.shape());
        let (idx, src_shape, src_dtype) = (index.clone(), src.dims(), src.dtype());
        record_out("ScatterAddBackward", &[self, src], out, move |g| {
            let to_src = g.gather(d as isize, &idx);
            vec![Some(g.clone()), Some(pad_to(&to_src, &src_shape).to_dtype(src_dtype))]
        })
    }

    /// The elements where `mask` (bool, broadcast against `self`) is true, as a 1-d tensor.
    pub fn masked_select(&self, mask: &Tensor) -> Tensor {
        assert_eq!(mask.dtype(), DType::Bool, "masked_select: the mask must be bool, got {}", mask.describe());
        let shape = shape_or_panic("masked_select", shape::broadcast(self.shape(), mask.shape()));
        let x = self.expand(shape.clone()).reshape([shape.iter().product::<usize>()]);
        let flat_mask = mask.expand(shape).contiguous().reshape([x.numel()]);
        // Selecting by the positions of the true entries makes the gradient an index_add.
        let positions: Vec<i64> =
            flat_mask.to_vec::<bool>().iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i as i64).collect();
        let n = positions.len();
        x.index_select(0, &Tensor::from_vec(positions, n))
    }

    /// i64 one-hot encoding with `classes` classes along a new last dim.
    pub fn one_hot(&self, classes: usize) -> Tensor {
        self.check_index_dtype("one_hot");
        let mut shape = self.dims();
        shape.push(classes);
        run_op(Op::OneHot { classes }, &[self], DType::I64, &shape)
    }

    /// Rows of the `[num, dim]` table `self` for each index in `indices` (any shape).
    pub fn embedding(&self, indices: &Tensor) -> Tensor {
        assert_eq!(self.rank(), 2, "embedding: the weight must be [num_embeddings, dim], got {}", self.describe());
        indices.check_index_dtype("embedding");
        let flat = indices.reshape([indices.numel()]);
        let mut shape = indices.dims();
        shape.push(self.shape()[1]);
        self.index_select(0, &flat).reshape(shape)
    }
}

/// Zero-pads `t` at the end of each dim up to `shape` (scatter's `src` may be larger than
/// its index; the positions past the index get no gradient).
fn pad_to(t: &Tensor, shape: &[usize]) -> Tensor {
    if t.shape() == shape {
        return t.clone();
    }
    let pads: Vec<(usize, usize)> = t.shape().iter().zip(shape).map(|(&have, &want)| (0, want - have)).collect();
    t.pad_dims(&pads, ignis_ir::PadMode::Constant, 0.0)
}
