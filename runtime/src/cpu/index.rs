//! Ops driven by index tensors: index_select / index_add, gather / scatter / scatter_add,
//! masked_select and one_hot.
//!
//! Index tensors are i64 or i32 views of any strides. They are read once into a row-major
//! `Vec` and every entry is bounds-checked before any data moves, so a bad index panics with
//! the op's name and never writes out of bounds. Negative indices are errors, not wrapped:
//! the frontend normalizes them if it wants Python semantics.
//!
//! Accumulating ops (index_add, scatter_add) add in a fixed order, so their results are
//! identical from run to run regardless of the thread count.

use super::copy::contiguous;
use super::movement::copy_row;
use crate::element::Element;
use crate::layout::{Layout, contiguous_strides};
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use crate::strided::Plan;
use crate::with_dtype;
use half::{bf16, f16};
use ignis_ir::DType;
use ignis_ir::shape::{self, format_shape};

/// Addition as the accumulating ops need it: wrapping for integers, `or` for bool, and in
/// f32 for half floats (rounded back after every step, as PyTorch's CPU kernels do).
pub trait Accumulate: Element {
    fn accumulate(self, other: Self) -> Self;
}

macro_rules! accumulate_with {
    ($t:ty, |$a:ident, $b:ident| $body:expr) => {
        impl Accumulate for $t {
            #[inline(always)]
            fn accumulate(self, other: $t) -> $t {
                let ($a, $b) = (self, other);
                $body
            }
        }
    };
}
accumulate_with!(f32, |a, b| a + b);
accumulate_with!(f64, |a, b| a + b);
accumulate_with!(f16, |a, b| f16::from_f32(a.to_f32() + b.to_f32()));
accumulate_with!(bf16, |a, b| bf16::from_f32(a.to_f32() + b.to_f32()));
accumulate_with!(i64, |a, b| a.wrapping_add(b));
accumulate_with!(i32, |a, b| a.wrapping_add(b));
accumulate_with!(u8, |a, b| a.wrapping_add(b));
accumulate_with!(bool, |a, b| a | b);

/// Reads an index tensor into row-major order as i64, whatever its strides.
fn raw_indices(op: &str, index: View) -> Vec<i64> {
    match index.dtype() {
        DType::I64 => contiguous(index).to_vec::<i64>(),
        DType::I32 => contiguous(index).to_vec::<i32>().into_iter().map(i64::from).collect(),
        other => panic!("{op}: indices must be i64 or i32, got {other}"),
    }
}

/// Reads an index tensor and checks every entry against `size`, the length of `dim`.
fn checked_indices(op: &str, index: View, dim: usize, size: usize) -> Vec<usize> {
    raw_indices(op, index)
        .into_iter()
        .map(|i| {
            if i < 0 || i as u64 >= size as u64 {
                panic!("{op}: index {i} is out of range for dim {dim} of size {size}");
            }
            i as usize
        })
        .collect()
}

fn check_dim(op: &str, dim: usize, rank: usize) {
    assert!(dim < rank, "{op}: dim {dim} is out of range for a tensor of rank {rank}");
}

fn check_same_dtype(op: &str, a: View, b: View) {
    assert_eq!(a.dtype(), b.dtype(), "{op}: source must have the destination's dtype {}, got {}", a.dtype(), b.dtype());
}

/// A 1-d index (a 0-d one counts as one entry).
fn check_vector(op: &str, index: View) {
    assert!(index.shape().len() <= 1, "{op}: index must be 1-d, got shape {}", format_shape(index.shape()));
}

/// Storage offsets, relative to the base, of every element of a strided box, row-major.
fn box_offsets(shape: &[usize], strides: &[isize]) -> Vec<isize> {
    let mut offsets = Vec::with_capacity(shape::numel(shape));
    if shape.contains(&0) {
        return offsets;
    }
    let plan = Plan::new(shape, [strides]);
    let [inner] = plan.inner_strides();
    plan.for_rows(0, plan.rows(), |[at]| offsets.extend((0..plan.row_len() as isize).map(|i| at + i * inner)));
    offsets
}

/// A tensor seen as `[outer, size, inner]` around `dim`: the storage offsets of each outer
/// and each inner position, and the stride of `dim`.
struct Split {
    outer: Vec<isize>,
    /// Offsets of the inner positions; left empty when they are `0, 1, 2, ...`.
    inner: Vec<isize>,
    /// Whether the inner positions are `0, 1, 2, ...`, so a run of them is one block copy.
    inner_dense: bool,
    /// Number of inner positions.
    block: usize,
    stride: isize,
}

impl Split {
    fn new(view: View, dim: usize) -> Split {
        let (shape, strides) = (view.shape(), &view.layout.strides);
        let inner_layout =
            Layout { shape: shape[dim + 1..].iter().copied().collect(), strides: strides[dim + 1..].into(), offset: 0 };
        let inner_dense = inner_layout.is_contiguous();
        Split {
            outer: box_offsets(&shape[..dim], &strides[..dim]),
            inner: if inner_dense { Vec::new() } else { box_offsets(&shape[dim + 1..], &strides[dim + 1..]) },
            inner_dense,
            block: inner_layout.numel(),
            stride: strides[dim],
        }
    }
}

/// Picks entries `index` along `dim`: the output has `x`'s shape with `dim` resized to the
/// index length.
pub fn index_select(x: View, dim: usize, index: View) -> Storage {
    check_dim("index_select", dim, x.shape().len());
    check_vector("index_select", index);
    let rows = checked_indices("index_select", index, dim, x.shape()[dim]);
    with_dtype!(x.dtype(), T => index_select_typed::<T>(x, dim, &rows))
}

fn index_select_typed<T: Element>(x: View, dim: usize, rows: &[usize]) -> Storage {
    let mut out_shape = x.shape().to_vec();
    out_shape[dim] = rows.len();
    let out = Storage::uninit(T::DTYPE, shape::numel(&out_shape));
    if out.is_empty() {
        return out;
    }
    let split = Split::new(x, dim);
    let block = split.block;
    let (dst, src) = (SendPtr(out.as_ptr::<T>()), SendPtr(x.base_ptr::<T>() as *mut T));
    let items = split.outer.len() * rows.len();
    parallel::parallel_for(items, (parallel::ELEMENTWISE_GRAIN / block).max(1), |a, b| {
        for item in a..b {
            let (o, j) = (item / rows.len(), item % rows.len());
            // SAFETY: `rows[j]` was checked against the size of `dim`, so the source block is
            // inside `x`'s layout; output item `item` is its own block of the fresh output.
            unsafe {
                let from = src.get().offset(split.outer[o] + rows[j] as isize * split.stride);
                let to = dst.get().add(item * block);
                copy_block(to, from, &split, 0, block);
            }
        }
    });
    out
}

/// Copies inner positions `start..end` of the block at `from` to `to` (contiguous).
///
/// # Safety
/// `from` plus the split's inner offsets lies inside the source, `to..to + end - start` inside
/// a destination that does not overlap it.
unsafe fn copy_block<T: Element>(to: *mut T, from: *const T, split: &Split, start: usize, end: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if split.inner_dense {
            copy_row(to, 1, from.add(start), 1, end - start);
        } else {
            for (t, &at) in split.inner[start..end].iter().enumerate() {
                *to.add(t) = *from.offset(at);
            }
        }
    }
}

/// Out of place `dest.index_add_(dim, index, src)`: a copy of `dest` where entry `index[j]`
/// along `dim` gains `src`'s entry `j`. Repeated indices accumulate, in index order.
pub fn index_add(dest: View, dim: usize, index: View, src: View) -> Storage {
    const OP: &str = "index_add";
    check_dim(OP, dim, dest.shape().len());
    check_vector(OP, index);
    check_same_dtype(OP, dest, src);
    let rows = checked_indices(OP, index, dim, dest.shape()[dim]);
    let mut expected = dest.shape().to_vec();
    expected[dim] = rows.len();
    assert_eq!(
        src.shape(),
        &expected[..],
        "{OP}: source shape {} must be the destination's {} with dim {dim} of size {}",
        format_shape(src.shape()),
        format_shape(dest.shape()),
        rows.len()
    );
    with_dtype!(dest.dtype(), T => index_add_typed::<T>(dest, dim, &rows, src))
}

/// Elements of an inner block handled by one task of index_add.
const ADD_CHUNK: usize = 4096;

fn index_add_typed<T: Accumulate>(dest: View, dim: usize, rows: &[usize], src: View) -> Storage {
    let out = contiguous(dest);
    if out.is_empty() || rows.is_empty() {
        return out;
    }
    let split = Split::new(src, dim);
    let block = split.block;
    let out_dim = dest.shape()[dim];
    // Tasks own disjoint output ranges (one outer position, one chunk of the inner block) and
    // walk the index in order, so every output element sees its additions in one fixed order.
    let chunks = block.div_ceil(ADD_CHUNK);
    let (dst, from) = (SendPtr(out.as_ptr::<T>()), SendPtr(src.base_ptr::<T>() as *mut T));
    let per_task = (rows.len() * block.min(ADD_CHUNK)).max(1);
    let grain = (parallel::ELEMENTWISE_GRAIN / per_task).max(1);
    parallel::parallel_for(split.outer.len() * chunks, grain, |a, b| {
        for task in a..b {
            let (o, c) = (task / chunks, task % chunks);
            let (start, end) = (c * ADD_CHUNK, ((c + 1) * ADD_CHUNK).min(block));
            for (j, &row) in rows.iter().enumerate() {
                // SAFETY: `row` was checked against the output's size along `dim` and `j` is
                // within the source's; offsets come from the source layout; the output is a
                // fresh contiguous copy and this task alone writes positions `start..end` of
                // outer position `o`.
                unsafe {
                    let to = dst.get().add((o * out_dim + row) * block);
                    let base = from.get().offset(split.outer[o] + j as isize * split.stride);
                    for t in start..end {
                        let value = *base.offset(if split.inner_dense { t as isize } else { split.inner[t] });
                        *to.add(t) = (*to.add(t)).accumulate(value);
                    }
                }
            }
        }
    });
    out
}

/// Checks the shape rules shared by gather and scatter: one rank for all, and the index no
/// larger than `data` in any dim but `free` (the indexed dim, where sizes are unrelated).
fn check_index_shape(op: &str, data: View, free: Option<usize>, index: View, data_name: &str) {
    let (d, i) = (data.shape(), index.shape());
    assert_eq!(
        d.len(),
        i.len(),
        "{op}: index {} must have the rank of the {data_name} {}",
        format_shape(i),
        format_shape(d)
    );
    for k in (0..d.len()).filter(|&k| Some(k) != free) {
        assert!(
            i[k] <= d[k],
            "{op}: index {} is larger than the {data_name} {} in dim {k}",
            format_shape(i),
            format_shape(d)
        );
    }
}

/// `out[i][j][k] = x[i][index[i][j][k]][k]` for `dim = 1`, and likewise for any dim; the
/// output has the index's shape.
pub fn gather(x: View, dim: usize, index: View) -> Storage {
    check_dim("gather", dim, x.shape().len());
    check_index_shape("gather", x, Some(dim), index, "input");
    let picks = checked_indices("gather", index, dim, x.shape()[dim]);
    with_dtype!(x.dtype(), T => gather_typed::<T>(x, dim, index.shape(), &picks))
}

fn gather_typed<T: Element>(x: View, dim: usize, shape: &[usize], picks: &[usize]) -> Storage {
    let out = Storage::uninit(T::DTYPE, picks.len());
    if out.is_empty() {
        return out;
    }
    // Operand 0 walks the output (and the row-major index), operand 1 the input with `dim`
    // frozen at 0; the picked entry adds `pick * stride` on top.
    let mut frozen = x.layout.strides.clone();
    frozen[dim] = 0;
    let plan = Plan::new(shape, [&contiguous_strides(shape), &frozen]);
    let [ps, xs] = plan.inner_strides();
    let row = plan.row_len();
    let stride = x.layout.strides[dim];
    let (dst, src) = (SendPtr(out.as_ptr::<T>()), SendPtr(x.base_ptr::<T>() as *mut T));
    parallel::parallel_for(plan.rows(), (parallel::ELEMENTWISE_GRAIN / row).max(1), |a, b| {
        plan.for_rows(a, b, |[p0, x0]| {
            for i in 0..row as isize {
                let p = (p0 + i * ps) as usize;
                // SAFETY: `p` < output length; the index is no larger than `x` outside `dim`
                // and its entries were checked against `dim`'s size, so the read is inside
                // `x`'s layout; each `p` is written by one row only.
                unsafe { *dst.get().add(p) = *src.get().offset(x0 + i * xs + picks[p] as isize * stride) };
            }
        });
    });
    out
}

/// Out of place `dest.scatter_(dim, index, src)`: a copy of `dest` where
/// `out[i][index[i][j][k]][k] = src[i][j][k]` (for `dim = 1`) over the index's shape. `src`
/// may be larger than the index; its extra entries are ignored. Where the index repeats a
/// position, the last write in row-major index order wins (deterministically: this runs on
/// one thread).
pub fn scatter(dest: View, dim: usize, index: View, src: View) -> Storage {
    scatter_with("scatter", dest, dim, index, src, false)
}

/// Like `scatter`, but repeated positions accumulate (in row-major index order, so the
/// result is the same on every run).
pub fn scatter_add(dest: View, dim: usize, index: View, src: View) -> Storage {
    scatter_with("scatter_add", dest, dim, index, src, true)
}

fn scatter_with(op: &str, dest: View, dim: usize, index: View, src: View, add: bool) -> Storage {
    check_dim(op, dim, dest.shape().len());
    check_same_dtype(op, dest, src);
    check_index_shape(op, dest, Some(dim), index, "destination");
    check_index_shape(op, src, None, index, "source");
    let targets = checked_indices(op, index, dim, dest.shape()[dim]);
    with_dtype!(dest.dtype(), T => scatter_typed::<T>(dest, dim, index.shape(), &targets, src, add))
}

fn scatter_typed<T: Accumulate>(
    dest: View,
    dim: usize,
    shape: &[usize],
    targets: &[usize],
    src: View,
    add: bool,
) -> Storage {
    let out = contiguous(dest);
    if targets.is_empty() {
        return out;
    }
    // Operands: the row-major index position, the output with `dim` frozen at 0, the source.
    let out_strides = contiguous_strides(dest.shape());
    let mut frozen = out_strides.clone();
    frozen[dim] = 0;
    let plan = Plan::new(shape, [&contiguous_strides(shape), &frozen, &src.layout.strides]);
    let [ps, os, ss] = plan.inner_strides();
    let row = plan.row_len();
    let (dst, from) = (out.as_ptr::<T>(), src.base_ptr::<T>());
    plan.for_rows(0, plan.rows(), |[p0, o0, s0]| {
        for i in 0..row as isize {
            let p = (p0 + i * ps) as usize;
            // SAFETY: the index is no larger than `dest` outside `dim` and its entries were
            // checked against `dim`'s size, so the write is inside the fresh output; it is no
            // larger than `src` anywhere, so the read is inside `src`'s layout.
            unsafe {
                let to = dst.offset(o0 + i * os + targets[p] as isize * out_strides[dim]);
                let value = *from.offset(s0 + i * ss);
                *to = if add { (*to).accumulate(value) } else { value };
            }
        }
    });
    out
}

/// The elements of `x` where `mask` is true, in row-major order, as a 1-d tensor; also
/// returns its length. `mask` (bool) and `x` broadcast against each other.
pub fn masked_select(x: View, mask: View) -> (Storage, usize) {
    assert_eq!(mask.dtype(), DType::Bool, "masked_select: mask must be bool, got {}", mask.dtype());
    let shape = shape::broadcast(x.shape(), mask.shape()).unwrap_or_else(|e| panic!("masked_select: {e}"));
    let x_layout = x.layout.expand(&shape).unwrap_or_else(|e| panic!("masked_select: {e}"));
    let mask_layout = mask.layout.expand(&shape).unwrap_or_else(|e| panic!("masked_select: {e}"));
    let x = View::new(x.storage, &x_layout);
    let mask = View::new(mask.storage, &mask_layout);
    let out = with_dtype!(x.dtype(), T => Storage::from_vec(select_typed::<T>(x, mask)));
    let len = out.len();
    (out, len)
}

/// Single pass on one thread: the output position of each element depends on every
/// element before it.
fn select_typed<T: Element>(x: View, mask: View) -> Vec<T> {
    let mut picked = Vec::new();
    if x.numel() == 0 {
        return picked;
    }
    let plan = Plan::new(x.shape(), [&x.layout.strides, &mask.layout.strides]);
    let [xs, ms] = plan.inner_strides();
    let (values, keep) = (x.base_ptr::<T>(), mask.base_ptr::<bool>());
    plan.for_rows(0, plan.rows(), |[x0, m0]| {
        for i in 0..plan.row_len() as isize {
            // SAFETY: offsets come from the two (expanded) layouts, inside their storages.
            unsafe {
                if *keep.offset(m0 + i * ms) {
                    picked.push(*values.offset(x0 + i * xs));
                }
            }
        }
    });
    picked
}

/// An i64 tensor of shape `indices.shape + [classes]`, 1 at each index and 0 elsewhere.
pub fn one_hot(indices: View, classes: usize) -> Storage {
    let hot = raw_indices("one_hot", indices);
    let out = Storage::filled(0i64, hot.len() * classes);
    // SAFETY: fresh storage, no other handle exists.
    let cells = unsafe { out.slice_mut::<i64>() };
    for (k, &i) in hot.iter().enumerate() {
        if i < 0 || i as u64 >= classes as u64 {
            panic!("one_hot: index {i} is out of range for {classes} classes");
        }
        cells[k * classes + i as usize] = 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::{Tensor, ints, values};
    use proptest::prelude::*;

    fn longs(values: &[i64], shape: &[usize]) -> Tensor {
        Tensor::new(values, shape)
    }

    /// [[1, 2], [3, 4], [5, 6]]
    fn three_by_two() -> Tensor {
        Tensor::new(&ints(&[1, 2, 3, 4, 5, 6]), &[3, 2])
    }

    #[test]
    fn index_select_picks_entries_in_index_order() {
        // Rows 2, 0, 2 of [[1, 2], [3, 4], [5, 6]]: [[5, 6], [1, 2], [5, 6]].
        let x = three_by_two();
        let out = index_select(x.view(), 0, longs(&[2, 0, 2], &[3]).view());
        assert_eq!(values::<f32>(&out), ints(&[5, 6, 1, 2, 5, 6]));
        // Column 1 with an i32 index: [[2], [4], [6]].
        let index = Tensor::new(&[1i32], &[1]);
        assert_eq!(values::<f32>(&index_select(x.view(), 1, index.view())), ints(&[2, 4, 6]));
    }

    fn index_select_in<T: Element>() {
        // Rows 1, 0 of iota [2, 2] = [[0, 1], [2, 3]]: [[2, 3], [0, 1]].
        let x = Tensor::iota::<T>(&[2, 2]);
        let out = index_select(x.view(), 0, longs(&[1, 0], &[2]).view());
        let expected: Vec<T> = [2, 3, 0, 1].into_iter().map(T::from_i64).collect();
        assert_eq!(values::<T>(&out), expected);
    }

    #[test]
    fn index_select_works_for_every_dtype() {
        for dtype in DType::ALL {
            with_dtype!(dtype, T => index_select_in::<T>());
        }
    }

    #[test]
    fn index_select_with_empty_index_is_empty() {
        let out = index_select(three_by_two().view(), 0, longs(&[], &[0]).view());
        assert!(out.is_empty());
    }

    #[test]
    fn index_select_of_strided_operands_matches_contiguous() {
        let inputs = [
            Tensor::iota::<f32>(&[4, 3, 5]).transpose(0, 2),
            Tensor::iota::<f32>(&[5, 8, 4]).slice(1, 1, 3, 3),
            Tensor::iota::<f32>(&[5, 1, 4]).expand(&[5, 3, 4]),
        ];
        // Entries 2, 1, 1, 0 read through a step-2 slice of a longer index.
        let index = longs(&[2, 9, 1, 9, 1, 9, 0], &[7]).slice(0, 0, 4, 2);
        for x in &inputs {
            for dim in 0..3 {
                assert_eq!(
                    values::<f32>(&index_select(x.view(), dim, index.view())),
                    values::<f32>(&index_select(x.contiguous().view(), dim, index.contiguous().view()))
                );
            }
        }
    }

    #[test]
    fn index_select_of_many_rows_matches_elementwise_reference() {
        // An embedding lookup large enough to run in parallel: out[k, j] = x[rows[k], j].
        let x = Tensor::iota::<f32>(&[1000, 64]);
        let rows: Vec<i64> = (0..3000).map(|k| (k * 7919) % 1000).collect();
        let out: Vec<f32> = values(&index_select(x.view(), 0, longs(&rows, &[3000]).view()));
        for (k, &r) in rows.iter().enumerate() {
            for j in 0..64 {
                assert_eq!(out[k * 64 + j], (r * 64 + j as i64) as f32);
            }
        }
    }

    #[test]
    #[should_panic(expected = "index_select: index 7 is out of range for dim 0 of size 5")]
    fn index_select_rejects_out_of_range_index() {
        index_select(Tensor::iota::<f32>(&[5]).view(), 0, longs(&[1, 7], &[2]).view());
    }

    #[test]
    #[should_panic(expected = "index_select: index -1 is out of range for dim 0 of size 5")]
    fn index_select_rejects_negative_index() {
        index_select(Tensor::iota::<f32>(&[5]).view(), 0, longs(&[-1], &[1]).view());
    }

    #[test]
    #[should_panic(expected = "index_select: indices must be i64 or i32, got f32")]
    fn index_select_rejects_float_index() {
        index_select(Tensor::iota::<f32>(&[5]).view(), 0, Tensor::iota::<f32>(&[2]).view());
    }

    #[test]
    fn index_add_accumulates_repeated_rows() {
        // Ones [3, 2] plus rows of [[1, 2], [3, 4], [5, 6]] at 0, 2, 0: row 0 gains 1+5 and 2+6,
        // row 2 gains 3 and 4, row 1 stays: [[7, 9], [1, 1], [4, 5]].
        let dest = Tensor::new(&[1f32; 6], &[3, 2]);
        let out = index_add(dest.view(), 0, longs(&[0, 2, 0], &[3]).view(), three_by_two().view());
        assert_eq!(values::<f32>(&out), ints(&[7, 9, 1, 1, 4, 5]));
        // Along dim 1 with both source columns sent to column 2: [[0, 0, 3], [0, 0, 7]].
        let dest = Tensor::new(&[0i64; 6], &[2, 3]);
        let src = longs(&[1, 2, 3, 4], &[2, 2]);
        let out = index_add(dest.view(), 1, Tensor::new(&[2i32, 2], &[2]).view(), src.view());
        assert_eq!(values::<i64>(&out), vec![0, 0, 3, 0, 0, 7]);
    }

    #[test]
    fn index_add_accumulates_half_floats_and_bools() {
        // f16: 0.5 + 0.25 + 0.25 = 1 at row 0. bool: false | true | false = true.
        let dest = Tensor::new(&[f16::from_f32(0.5), f16::ZERO], &[2]);
        let src = Tensor::new(&[f16::from_f32(0.25); 2], &[2]);
        let out = index_add(dest.view(), 0, longs(&[0, 0], &[2]).view(), src.view());
        assert_eq!(values::<f16>(&out), vec![f16::ONE, f16::ZERO]);
        let dest = Tensor::new(&[false, false], &[2]);
        let src = Tensor::new(&[true, false], &[2]);
        let out = index_add(dest.view(), 0, longs(&[1, 0], &[2]).view(), src.view());
        assert_eq!(values::<bool>(&out), vec![false, true]);
    }

    #[test]
    fn index_add_of_strided_operands_matches_contiguous() {
        let dest = Tensor::iota::<f64>(&[3, 4, 5]).transpose(0, 2); // [5, 4, 3]
        let src = Tensor::iota::<f64>(&[1, 4, 3]).expand(&[6, 4, 3]);
        // Entries 4, 0, 4, 2, 1, 1 read through a step-2 slice.
        let index = longs(&[4, 9, 0, 9, 4, 9, 2, 9, 1, 9, 1, 9], &[12]).slice(0, 0, 6, 2);
        let strided = index_add(dest.view(), 0, index.view(), src.view());
        let reference = index_add(dest.contiguous().view(), 0, index.contiguous().view(), src.contiguous().view());
        assert_eq!(values::<f64>(&strided), values::<f64>(&reference));
        // And along the last dim, where the source's inner block is not dense.
        let src = Tensor::iota::<f64>(&[6, 4, 5]).transpose(0, 2); // [5, 4, 6]
        let index = longs(&[2, 0, 2, 1, 1, 1], &[6]);
        let strided = index_add(dest.view(), 2, index.view(), src.view());
        let reference = index_add(dest.contiguous().view(), 2, index.view(), src.contiguous().view());
        assert_eq!(values::<f64>(&strided), values::<f64>(&reference));
    }

    #[test]
    fn index_add_is_deterministic_and_adds_in_index_order() {
        // Many duplicates of a few rows, large enough to run in parallel. The reference adds
        // the same f32 values one index entry after another, so any other order would round
        // differently somewhere.
        let (rows, cols, picks) = (7usize, 5000usize, 300usize);
        let index: Vec<i64> = (0..picks as i64).map(|j| (j * 3) % rows as i64).collect();
        let src_data: Vec<f32> = (0..picks * cols).map(|k| ((k * 37 % 101) as f32 - 50.0) * 0.013).collect();
        let src = Tensor::new(&src_data, &[picks, cols]);
        let dest = Tensor::new(&vec![0.1f32; rows * cols], &[rows, cols]);
        let run = || values::<f32>(&index_add(dest.view(), 0, longs(&index, &[picks]).view(), src.view()));
        let out = run();
        let mut expected = vec![0.1f32; rows * cols];
        for (j, &r) in index.iter().enumerate() {
            for c in 0..cols {
                expected[r as usize * cols + c] += src_data[j * cols + c];
            }
        }
        assert_eq!(out, expected);
        assert_eq!(run(), out);
    }

    #[test]
    #[should_panic(expected = "index_add: source shape [2,3] must be the destination's [3,2] with dim 0 of size 2")]
    fn index_add_rejects_mismatched_source() {
        let src = Tensor::iota::<f32>(&[2, 3]);
        index_add(three_by_two().view(), 0, longs(&[0, 1], &[2]).view(), src.view());
    }

    #[test]
    fn gather_reads_along_dim() {
        // PyTorch's example: x = [[1, 2], [3, 4]], index [[0, 0], [1, 0]] along dim 1 gives
        // [[x00, x00], [x11, x10]] = [[1, 1], [4, 3]].
        let x = Tensor::new(&ints(&[1, 2, 3, 4]), &[2, 2]);
        let out = gather(x.view(), 1, longs(&[0, 0, 1, 0], &[2, 2]).view());
        assert_eq!(values::<f32>(&out), ints(&[1, 1, 4, 3]));
        // Along dim 0 with index [[1, 0]]: [[x10, x01]] = [[3, 2]].
        let out = gather(x.view(), 0, longs(&[1, 0], &[1, 2]).view());
        assert_eq!(values::<f32>(&out), ints(&[3, 2]));
        // An index smaller than x in the other dim: x = iota [3, 3], index [[2], [0]] along
        // dim 1 gives [[x02], [x10]] = [[2], [3]].
        let x = Tensor::iota::<i32>(&[3, 3]);
        let out = gather(x.view(), 1, Tensor::new(&[2i32, 0], &[2, 1]).view());
        assert_eq!(values::<i32>(&out), vec![2, 3]);
    }

    #[test]
    fn gather_of_strided_operands_matches_contiguous() {
        let inputs = [
            Tensor::iota::<u8>(&[4, 3, 5]).transpose(0, 2),
            Tensor::iota::<u8>(&[5, 9, 4]).slice(1, 0, 3, 3),
            Tensor::iota::<u8>(&[5, 1, 4]).expand(&[5, 3, 4]),
        ];
        // Index [3, 3, 3] transposed from a [3, 3, 3] tensor whose entries are 0..=2.
        let index_data: Vec<i64> = (0..27).map(|k| (k * 5) % 3).collect();
        let index = longs(&index_data, &[3, 3, 3]).transpose(0, 1);
        for x in &inputs {
            for dim in 0..3 {
                assert_eq!(
                    values::<u8>(&gather(x.view(), dim, index.view())),
                    values::<u8>(&gather(x.contiguous().view(), dim, index.contiguous().view()))
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "gather: index [3,1] is larger than the input [2,2] in dim 0")]
    fn gather_rejects_index_larger_than_input() {
        gather(Tensor::iota::<f32>(&[2, 2]).view(), 1, longs(&[0, 0, 0], &[3, 1]).view());
    }

    #[test]
    #[should_panic(expected = "gather: indices must be i64 or i32, got bool")]
    fn gather_rejects_bool_index() {
        gather(Tensor::iota::<f32>(&[2]).view(), 0, Tensor::new(&[true], &[1]).view());
    }

    #[test]
    #[should_panic(expected = "gather: index 2 is out of range for dim 1 of size 2")]
    fn gather_rejects_out_of_range_index() {
        gather(Tensor::iota::<f32>(&[2, 2]).view(), 1, longs(&[0, 2], &[1, 2]).view());
    }

    #[test]
    fn scatter_writes_the_source_where_the_index_points() {
        // PyTorch's example: src = [[1..5], [6..10]], index [[0, 1, 2, 0]] along dim 0 into
        // zeros [3, 5]: out[index[0][j]][j] = src[0][j] for j < 4, so 1 goes to (0, 0),
        // 2 to (1, 1), 3 to (2, 2), 4 to (0, 3); src's second row and last column go unused.
        let src = Tensor::new(&ints(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), &[2, 5]);
        let dest = Tensor::new(&[0f32; 15], &[3, 5]);
        let out = scatter(dest.view(), 0, longs(&[0, 1, 2, 0], &[1, 4]).view(), src.view());
        assert_eq!(values::<f32>(&out), ints(&[1, 0, 0, 4, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0]));
    }

    #[test]
    fn scatter_keeps_the_last_write_and_scatter_add_sums_all() {
        // Positions 0, 1, 0, 4, 0 receive 1, 2, 3, 4, 5. scatter: position 0 ends with the last
        // of 1, 3, 5 = 5. scatter_add into ones: position 0 is 1 + 1 + 3 + 5 = 10.
        let index = longs(&[0, 1, 0, 4, 0], &[5]);
        let src = longs(&[1, 2, 3, 4, 5], &[5]);
        let zeros = longs(&[0; 5], &[5]);
        let out = scatter(zeros.view(), 0, index.view(), src.view());
        assert_eq!(values::<i64>(&out), vec![5, 2, 0, 0, 4]);
        let ones = longs(&[1; 5], &[5]);
        let out = scatter_add(ones.view(), 0, index.view(), src.view());
        assert_eq!(values::<i64>(&out), vec![10, 3, 1, 1, 5]);
    }

    #[test]
    fn scatter_of_strided_operands_matches_contiguous() {
        let dest = Tensor::iota::<bf16>(&[4, 3, 5]).transpose(0, 2); // [5, 3, 4]
        let src = Tensor::iota::<bf16>(&[1, 3, 6]).expand(&[5, 3, 6]);
        let index_data: Vec<i32> = (0..24).map(|k| (k * 7) % 3).collect();
        let index = Tensor::new(&index_data, &[2, 3, 4]).transpose(0, 1); // [3, 2, 4]
        for dim in 0..3 {
            for op in [scatter, scatter_add] {
                assert_eq!(
                    values::<bf16>(&op(dest.view(), dim, index.view(), src.view())),
                    values::<bf16>(&op(
                        dest.contiguous().view(),
                        dim,
                        index.contiguous().view(),
                        src.contiguous().view()
                    ))
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "scatter_add: index [3] is larger than the source [2] in dim 0")]
    fn scatter_add_rejects_source_smaller_than_index() {
        let dest = Tensor::iota::<f32>(&[5]);
        scatter_add(dest.view(), 0, longs(&[0, 1, 2], &[3]).view(), Tensor::iota::<f32>(&[2]).view());
    }

    #[test]
    #[should_panic(expected = "scatter: index 5 is out of range for dim 0 of size 5")]
    fn scatter_rejects_out_of_range_index() {
        let dest = Tensor::iota::<f32>(&[5]);
        scatter(dest.view(), 0, longs(&[5], &[1]).view(), Tensor::iota::<f32>(&[1]).view());
    }

    #[test]
    fn masked_select_keeps_true_positions_in_order() {
        // [[1, 2], [3, 4]] under [[T, F], [F, T]] keeps 1 and 4; a mask [F, T] broadcast over
        // the rows keeps column 1: 2 and 4.
        let x = Tensor::new(&ints(&[1, 2, 3, 4]), &[2, 2]);
        let mask = Tensor::new(&[true, false, false, true], &[2, 2]);
        let (out, len) = masked_select(x.view(), mask.view());
        assert_eq!((values::<f32>(&out), len), (ints(&[1, 4]), 2));
        let column = Tensor::new(&[false, true], &[2]);
        let (out, len) = masked_select(x.view(), column.view());
        assert_eq!((values::<f32>(&out), len), (ints(&[2, 4]), 2));
        // Transposed x, [[1, 3], [2, 4]], under the same column mask: 3 and 4.
        let (out, _) = masked_select(x.transpose(0, 1).view(), column.view());
        assert_eq!(values::<f32>(&out), ints(&[3, 4]));
        // An all-false mask selects nothing.
        let none = Tensor::new(&[false], &[1]);
        assert_eq!(masked_select(x.view(), none.view()).1, 0);
    }

    #[test]
    #[should_panic(expected = "masked_select: mask must be bool, got u8")]
    fn masked_select_rejects_non_bool_mask() {
        masked_select(Tensor::iota::<f32>(&[2]).view(), Tensor::iota::<u8>(&[2]).view());
    }

    #[test]
    fn one_hot_marks_each_class() {
        // Classes 2, 0, 1 of 3: rows [0, 0, 1], [1, 0, 0], [0, 1, 0]; a transposed i32 input
        // is read in its logical order.
        let out = one_hot(longs(&[2, 0, 1], &[3]).view(), 3);
        assert_eq!(values::<i64>(&out), vec![0, 0, 1, 1, 0, 0, 0, 1, 0]);
        let t = Tensor::new(&[1i32, 0, 0, 1], &[2, 2]).transpose(0, 1); // [[1, 0], [0, 1]]
        assert_eq!(values::<i64>(&one_hot(t.view(), 2)), vec![0, 1, 1, 0, 1, 0, 0, 1]);
    }

    #[test]
    #[should_panic(expected = "one_hot: index 3 is out of range for 3 classes")]
    fn one_hot_rejects_index_past_the_classes() {
        one_hot(longs(&[0, 3], &[2]).view(), 3);
    }

    #[test]
    #[should_panic(expected = "one_hot: index -2 is out of range for 3 classes")]
    fn one_hot_rejects_negative_index() {
        one_hot(longs(&[-2], &[1]).view(), 3);
    }

    proptest! {
        #[test]
        fn gather_with_iota_index_is_identity(rows in 1usize..6, cols in 1usize..6, dim in 0usize..2) {
            // index[i][j] = i along dim 0 (or j along dim 1), built as an expanded iota.
            let x = Tensor::iota::<f32>(&[cols, rows]).transpose(0, 1);
            let index = if dim == 0 {
                Tensor::iota::<i64>(&[rows, 1]).expand(&[rows, cols])
            } else {
                Tensor::iota::<i64>(&[1, cols]).expand(&[rows, cols])
            };
            let out = gather(x.view(), dim, index.view());
            prop_assert_eq!(values::<f32>(&out), values::<f32>(&x.contiguous().storage));
        }
    }
}
