//! Views (reshape, permute, slice, expand, squeeze...) and the ops built from them.
//! Views share storage with their input; only `reshape` of incompatible strides copies.

use super::run_op;
use super::{shape_or_panic, sum_to};
use crate::autograd::record_out;
use crate::tensor::{IntoShape, Tensor};
use ignis_ir::{Op, shape};

impl Tensor {
    /// A movement op (a view over the same storage when strides allow), recording `rule`
    /// for its gradient.
    pub(crate) fn view_with_grad(
        &self,
        name: &'static str,
        op: Op,
        shape: &[usize],
        rule: impl Fn(&Tensor) -> Tensor + Send + Sync + 'static,
    ) -> Tensor {
        let out = run_op(op, &[self], self.dtype(), shape);
        record_out(name, &[self], out, move |g| vec![Some(rule(g))])
    }

    fn reshape_op(&self, name: &'static str, shape: &[usize]) -> Tensor {
        let input_shape = self.dims();
        let op = Op::Reshape { shape: shape.iter().map(|&d| d.into()).collect() };
        self.view_with_grad(name, op, shape, move |g| g.reshape(input_shape.as_slice()))
    }

    /// A new shape with the same elements; one dim may be -1. Copies only when the strides
    /// cannot express the new shape.
    pub fn reshape(&self, shape: impl IntoShape) -> Tensor {
        let target: Vec<isize> = shape.into_shape().iter().map(|&d| d as isize).collect();
        self.reshape_infer(&target)
    }

    /// `reshape` with a `-1` allowed in the target.
    pub fn reshape_infer(&self, target: &[isize]) -> Tensor {
        let new_shape = shape_or_panic("reshape", shape::reshape(self.shape(), target));
        if new_shape.as_slice() == self.shape() {
            return self.clone();
        }
        self.reshape_op("ViewBackward", &new_shape)
    }

    /// Like `reshape` but panics instead of copying (PyTorch's `view`).
    pub fn view(&self, shape: impl IntoShape) -> Tensor {
        let target = shape.into_shape();
        let t: Vec<isize> = target.iter().map(|&d| d as isize).collect();
        let new_shape = shape_or_panic("view", shape::reshape(self.shape(), &t));
        if self.layout().reshape(&new_shape).is_none() {
            panic!(
                "view: cannot view {} with strides {:?} as {}; use reshape (which copies)",
                self.describe(),
                self.strides(),
                shape::format_shape(&new_shape)
            )
        }
        self.reshape_op("ViewBackward", &new_shape)
    }

    pub fn permute(&self, dims: &[isize]) -> Tensor {
        let perm = shape_or_panic("permute", shape::permutation(dims, self.rank()));
        let mut inverse = vec![0isize; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i as isize;
        }
        let shape = shape::permute(self.shape(), &perm);
        self.view_with_grad("PermuteBackward", Op::Permute { perm: perm.to_vec() }, &shape, move |g| {
            g.permute(&inverse)
        })
    }

    pub fn transpose(&self, a: isize, b: isize) -> Tensor {
        let (a, b) = (self.norm_dim("transpose", a), self.norm_dim("transpose", b));
        if a == b {
            return self.clone();
        }
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        let shape = shape::permute(self.shape(), &perm);
        self.view_with_grad("TransposeBackward", Op::Permute { perm }, &shape, move |g| {
            g.transpose(a as isize, b as isize)
        })
    }

    /// Transpose of a matrix (rank <= 2).
    pub fn t(&self) -> Tensor {
        assert!(self.rank() <= 2, "t: expected a tensor of rank <= 2, got {}; use transpose", self.describe());
        if self.rank() < 2 { self.clone() } else { self.transpose(0, 1) }
    }

    /// Swaps the last two dims (matrix transpose of a batch).
    pub fn mt(&self) -> Tensor {
        assert!(self.rank() >= 2, "mT: expected a tensor of rank >= 2, got {}", self.describe());
        self.transpose(-2, -1)
    }

    /// `len` elements of `dim` starting at `start` (a view).
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Tensor {
        let d = self.norm_dim("narrow", dim);
        let size = self.shape()[d];
        assert!(
            start + len <= size,
            "narrow: range {start}..{} is out of bounds for dim {d} of size {size} ({})",
            start + len,
            self.describe()
        );
        self.slice(dim, start as isize, (start + len) as isize, 1)
    }

    /// Python's `x[start:end:step]` along `dim` (negative bounds count from the end).
    pub fn slice(&self, dim: isize, start: isize, end: isize, step: isize) -> Tensor {
        let d = self.norm_dim("slice", dim);
        let range = shape_or_panic("slice", shape::slice(self.shape()[d], start, end, step));
        let input_shape = self.dims();
        let dtype = self.dtype();
        let mut shape = self.dims();
        shape[d] = range.len;
        let op = Op::Slice { dim: d, start: range.start, len: range.len, step: range.step };
        self.view_with_grad("SliceBackward", op, &shape, move |g| {
            g.slice_scatter_into_zeros(&input_shape, dtype, d, range.start, range.step)
        })
    }

    /// Picks one index of `dim`, removing the dim (a view).
    pub fn select(&self, dim: isize, index: usize) -> Tensor {
        let d = self.norm_dim("select", dim);
        assert!(
            index < self.shape()[d],
            "select: index {index} is out of range for dim {d} of size {}",
            self.shape()[d]
        );
        self.narrow(d as isize, index, 1).squeeze(d as isize)
    }

    /// Broadcasts to `shape` without copying (size-1 and missing dims get stride 0).
    pub fn expand(&self, shape: impl IntoShape) -> Tensor {
        let target = shape.into_shape();
        if target.as_slice() == self.shape() {
            return self.clone();
        }
        shape_or_panic("expand", shape::expand(self.shape(), &target));
        let (input_shape, dtype) = (self.dims(), self.dtype());
        let op = Op::Expand { shape: target.iter().map(|&d| d.into()).collect() };
        self.view_with_grad("ExpandBackward", op, &target, move |g| sum_to(g, &input_shape, dtype))
    }

    pub fn broadcast_to(&self, shape: impl IntoShape) -> Tensor {
        self.expand(shape)
    }

    pub fn expand_as(&self, other: &Tensor) -> Tensor {
        self.expand(other.dims())
    }

    /// Removes `dim` if it has size 1.
    pub fn squeeze(&self, dim: isize) -> Tensor {
        let d = self.norm_dim("squeeze", dim);
        if self.shape()[d] != 1 {
            return self.clone();
        }
        let mut shape = self.dims();
        shape.remove(d);
        self.reshape_op("SqueezeBackward", &shape)
    }

    /// Removes every size-1 dim.
    pub fn squeeze_all(&self) -> Tensor {
        let shape: Vec<usize> = self.shape().iter().copied().filter(|&d| d != 1).collect();
        self.reshape(shape)
    }

    /// Inserts a size-1 dim at `dim` (which may be `rank`, or negative).
    pub fn unsqueeze(&self, dim: isize) -> Tensor {
        let d = shape_or_panic("unsqueeze", shape::normalize_axis(dim, self.rank() + 1));
        let mut shape = self.dims();
        shape.insert(d, 1);
        self.reshape_op("UnsqueezeBackward", &shape)
    }

    /// Merges dims `start..=end` into one.
    pub fn flatten(&self, start: isize, end: isize) -> Tensor {
        if self.rank() == 0 {
            return self.reshape([1]);
        }
        let (s, e) = (self.norm_dim("flatten", start), self.norm_dim("flatten", end));
        assert!(s <= e, "flatten: start dim {s} comes after end dim {e}");
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape(shape)
    }

    /// Splits `dim` into `sizes` (one may be -1).
    pub fn unflatten(&self, dim: isize, sizes: &[isize]) -> Tensor {
        let d = self.norm_dim("unflatten", dim);
        let inner = shape_or_panic("unflatten", shape::reshape(&[self.shape()[d]], sizes));
        let mut shape: Vec<isize> = self.shape()[..d].iter().map(|&x| x as isize).collect();
        shape.extend(inner.iter().map(|&x| x as isize));
        shape.extend(self.shape()[d + 1..].iter().map(|&x| x as isize));
        self.reshape_infer(&shape)
    }

    /// Pieces of `size` along `dim` (the last may be smaller); each is a view.
    pub fn split(&self, size: usize, dim: isize) -> Vec<Tensor> {
        assert!(size > 0, "split: the split size must be positive");
        let d = self.norm_dim("split", dim);
        let n = self.shape()[d];
        (0..n.div_ceil(size).max(1)).map(|i| self.narrow(d as isize, i * size, size.min(n - i * size))).collect()
    }

    /// Pieces with the given sizes along `dim`.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Vec<Tensor> {
        let d = self.norm_dim("split", dim);
        let total: usize = sizes.iter().sum();
        assert_eq!(total, self.shape()[d], "split: sizes {sizes:?} do not add up to dim {d} of {}", self.describe());
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let t = self.narrow(d as isize, start, s);
                start += s;
                t
            })
            .collect()
    }

    /// `chunks` pieces of (nearly) equal size along `dim`.
    pub fn chunk(&self, chunks: usize, dim: isize) -> Vec<Tensor> {
        assert!(chunks > 0, "chunk: need at least one chunk");
        let d = self.norm_dim("chunk", dim);
        let size = self.shape()[d].div_ceil(chunks).max(1);
        self.split(size, d as isize)
    }

    /// Tiles the tensor `repeats[i]` times along each dim (leading repeats add dims).
    pub fn repeat(&self, repeats: &[usize]) -> Tensor {
        assert!(
            repeats.len() >= self.rank(),
            "repeat: {} repeats given for a tensor of rank {}",
            repeats.len(),
            self.rank()
        );
        let lead = repeats.len() - self.rank();
        let mut x = self.clone();
        for _ in 0..lead {
            x = x.unsqueeze(0);
        }
        // [a, b] repeated [r, s] = view [1, a, 1, b] expanded to [r, a, s, b], then merged.
        let mut interleaved = Vec::new();
        let mut expanded = Vec::new();
        let mut result = Vec::new();
        for (i, &r) in repeats.iter().enumerate() {
            let d = x.shape()[i];
            interleaved.extend([1, d]);
            expanded.extend([r, d]);
            result.push(r * d);
        }
        x.reshape(interleaved).expand(expanded).reshape(result)
    }
}
