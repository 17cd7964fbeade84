//! Movement ops that copy data: concatenation, flips, rolls and padding.
//!
//! Each writes a fresh contiguous output with strided block copies and never looks at element
//! values, so every dtype takes one generic path. Ops driven by index tensors (gather,
//! scatter, ...) live in `index.rs`; nothing here knows about index tensors.

use super::copy::{contiguous, scalar_as};
use crate::element::Element;
use crate::layout::{Layout, contiguous_strides};
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use crate::strided::Plan;
use crate::with_dtype;
use ignis_ir::shape::{self, format_shape};
use ignis_ir::{PadMode, Scalar};

/// Copies a box of `shape` elements from `src` to `dst`, each walked with its own element
/// strides, in parallel when large. Strides may be negative (flip walks its input backwards),
/// which `Layout` does not allow, hence raw pointers rather than `View`s.
///
/// # Safety
/// Every position the box reaches through either pointer lies inside that pointer's
/// allocation; distinct box indices reach distinct `dst` positions; no `dst` position is also
/// read through `src`.
pub(crate) unsafe fn copy_box<T: Element>(
    shape: &[usize],
    dst: *mut T,
    dst_strides: &[isize],
    src: *const T,
    src_strides: &[isize],
) {
    if shape.contains(&0) {
        return;
    }
    let plan = Plan::new(shape, [dst_strides, src_strides]);
    let [ds, ss] = plan.inner_strides();
    let (d, s) = (SendPtr(dst), SendPtr(src as *mut T));
    // Segments split long rows too, so one big contiguous slab still spreads across threads.
    plan.par_segments(parallel::ELEMENTWISE_GRAIN, |[od, os], len| {
        // SAFETY: the caller guarantees the box is in bounds for both pointers and that
        // segments write distinct positions that are never read.
        unsafe { copy_row(d.get().offset(od), ds, s.get().offset(os), ss, len) }
    });
}

/// Copies `len` elements walked at strides `ds` and `ss`.
///
/// # Safety
/// All `len` positions are in bounds for both pointers and the two sets do not overlap.
#[inline]
pub(crate) unsafe fn copy_row<T: Element>(dst: *mut T, ds: isize, src: *const T, ss: isize, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if ds == 1 && ss == 1 {
            std::ptr::copy_nonoverlapping(src, dst, len);
        } else {
            for i in 0..len as isize {
                *dst.offset(i * ds) = *src.offset(i * ss);
            }
        }
    }
}

fn check_dim(op: &str, dim: usize, rank: usize) {
    assert!(dim < rank, "{op}: dim {dim} is out of range for a tensor of rank {rank}");
}

/// Concatenates `inputs` along `dim`. All inputs share one dtype and rank; sizes may differ
/// only in `dim`, and inputs with zero elements contribute nothing.
pub fn cat(inputs: &[View], dim: usize) -> Storage {
    let Some(first) = inputs.first() else {
        panic!("cat: needs at least one tensor");
    };
    let dtype = first.dtype();
    if let Some(other) = inputs.iter().find(|v| v.dtype() != dtype) {
        panic!("cat: all tensors need one dtype, got {dtype} and {}", other.dtype());
    }
    check_dim("cat", dim, first.shape().len());
    let shapes: Vec<&[usize]> = inputs.iter().map(|v| v.shape()).collect();
    let out_shape = shape::concat(&shapes, dim).unwrap_or_else(|e| panic!("cat: {e}"));
    with_dtype!(dtype, T => cat_typed::<T>(inputs, dim, &out_shape))
}

fn cat_typed<T: Element>(inputs: &[View], dim: usize, out_shape: &[usize]) -> Storage {
    let out = Storage::uninit(T::DTYPE, shape::numel(out_shape));
    let out_strides = contiguous_strides(out_shape);
    let mut start = 0;
    for input in inputs {
        if input.numel() > 0 {
            // SAFETY: the input's slab (`start..start + size` along `dim`) lies inside the fresh
            // output, slabs of different inputs are disjoint, and the input's layout lies inside
            // its own storage, which cannot be the fresh output.
            unsafe {
                let dst = out.as_ptr::<T>().offset(start as isize * out_strides[dim]);
                copy_box(input.shape(), dst, &out_strides, input.base_ptr::<T>(), &input.layout.strides);
            }
        }
        start += input.shape()[dim];
    }
    out
}

fn check_distinct(op: &str, dims: &[usize], rank: usize) {
    for (i, &d) in dims.iter().enumerate() {
        check_dim(op, d, rank);
        assert!(!dims[..i].contains(&d), "{op}: dim {d} appears more than once in {dims:?}");
    }
}

/// Reverses the order of elements along each of `dims`.
pub fn flip(x: View, dims: &[usize]) -> Storage {
    check_distinct("flip", dims, x.shape().len());
    with_dtype!(x.dtype(), T => flip_typed::<T>(x, dims))
}

fn flip_typed<T: Element>(x: View, dims: &[usize]) -> Storage {
    let shape = x.shape();
    let out = Storage::uninit(T::DTYPE, x.numel());
    if x.numel() == 0 {
        return out;
    }
    // Walk the input backwards along flipped dims: start at their last element, negate stride.
    let mut strides = x.layout.strides.clone();
    let mut start = 0isize;
    for &d in dims {
        start += (shape[d] as isize - 1) * strides[d];
        strides[d] = -strides[d];
    }
    // SAFETY: `start` plus the negated strides reach exactly the positions the input layout
    // reaches, all inside its storage; the output is fresh, contiguous and of the same shape.
    unsafe {
        let src = x.base_ptr::<T>().offset(start);
        copy_box(shape, out.as_ptr::<T>(), &contiguous_strides(shape), src, &strides);
    }
    out
}

/// Rolls elements along `dims` by `shifts` (PyTorch's `roll`): an element at position `i`
/// moves to `(i + shift) mod size`. Repeated dims add their shifts. With no dims the tensor
/// is rolled as if flattened, by the single shift given, and keeps its shape.
pub fn roll(x: View, shifts: &[isize], dims: &[usize]) -> Storage {
    if dims.is_empty() {
        assert_eq!(shifts.len(), 1, "roll: without dims, expects exactly one shift, got {shifts:?}");
        let flat = contiguous(x);
        let layout = Layout::contiguous(&[x.numel()]);
        return roll(View::new(&flat, &layout), shifts, &[0]);
    }
    assert_eq!(shifts.len(), dims.len(), "roll: expects one shift per dim, got shifts {shifts:?} for dims {dims:?}");
    let shape = x.shape();
    let mut net = vec![0usize; shape.len()];
    for (&shift, &d) in shifts.iter().zip(dims) {
        check_dim("roll", d, shape.len());
        if shape[d] > 0 {
            net[d] = (net[d] + shift.rem_euclid(shape[d] as isize) as usize) % shape[d];
        }
    }
    with_dtype!(x.dtype(), T => roll_typed::<T>(x, &net))
}

/// One block of a roll along one dim: `len` positions from `src` in the input go to `dst`
/// in the output.
#[derive(Copy, Clone)]
struct Piece {
    src: usize,
    dst: usize,
    len: usize,
}

fn roll_typed<T: Element>(x: View, net: &[usize]) -> Storage {
    let shape = x.shape();
    let out = Storage::uninit(T::DTYPE, x.numel());
    if x.numel() == 0 {
        return out;
    }
    // Along a dim rolled by k, input 0..n-k lands at k..n and input n-k..n at 0..k; the
    // output is the cartesian product of those pieces over all dims, one box copy each.
    let pieces: Vec<Vec<Piece>> = shape
        .iter()
        .zip(net)
        .map(|(&n, &k)| match k {
            0 => vec![Piece { src: 0, dst: 0, len: n }],
            k => vec![Piece { src: 0, dst: k, len: n - k }, Piece { src: n - k, dst: 0, len: k }],
        })
        .collect();
    let out_strides = contiguous_strides(shape);
    let in_strides = &x.layout.strides;
    let mut choice = vec![0usize; shape.len()];
    loop {
        let box_shape: Vec<usize> = (0..shape.len()).map(|d| pieces[d][choice[d]].len).collect();
        let dst_at: isize = (0..shape.len()).map(|d| pieces[d][choice[d]].dst as isize * out_strides[d]).sum();
        let src_at: isize = (0..shape.len()).map(|d| pieces[d][choice[d]].src as isize * in_strides[d]).sum();
        // SAFETY: each piece is a sub-box of the input (read) and of the fresh output (written);
        // the output pieces partition the output, so no position is written twice.
        unsafe {
            copy_box(
                &box_shape,
                out.as_ptr::<T>().offset(dst_at),
                &out_strides,
                x.base_ptr::<T>().offset(src_at),
                in_strides,
            );
        }
        if !next_choice(&mut choice, &pieces) {
            return out;
        }
    }
}

/// Advances an odometer over one piece per dim; false once every combination was visited.
fn next_choice(choice: &mut [usize], pieces: &[Vec<Piece>]) -> bool {
    for d in (0..choice.len()).rev() {
        choice[d] += 1;
        if choice[d] < pieces[d].len() {
            return true;
        }
        choice[d] = 0;
    }
    false
}

/// Pads every dim `i` with `pads[i] = (before, after)` elements. Constant mode writes
/// `value`; reflect mirrors the input without repeating its edge (so each pad must be less
/// than the size); replicate repeats the edge. Corners combine the dims one after another,
/// as in PyTorch.
pub fn pad(x: View, pads: &[(usize, usize)], mode: PadMode, value: Scalar) -> Storage {
    let shape = x.shape();
    assert_eq!(
        pads.len(),
        shape.len(),
        "pad: expects one (before, after) pair per dim, got {} pairs for shape {}",
        pads.len(),
        format_shape(shape)
    );
    for (d, (&n, &(before, after))) in shape.iter().zip(pads).enumerate() {
        match mode {
            PadMode::Reflect => assert!(
                before < n && after < n || before == 0 && after == 0,
                "pad: reflect padding ({before}, {after}) of dim {d} must be less than its size {n}"
            ),
            PadMode::Replicate => assert!(
                n > 0 || before == 0 && after == 0,
                "pad: replicate padding of dim {d} needs a non-empty dim to repeat"
            ),
            PadMode::Constant => {}
        }
    }
    with_dtype!(x.dtype(), T => pad_typed::<T>(x, pads, mode, value))
}

fn pad_typed<T: Element>(x: View, pads: &[(usize, usize)], mode: PadMode, value: Scalar) -> Storage {
    let shape = x.shape();
    let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&n, &(b, a))| b + n + a).collect();
    let out_strides = contiguous_strides(&out_shape);
    let out = match mode {
        PadMode::Constant => Storage::filled(scalar_as::<T>(value), shape::numel(&out_shape)),
        _ => Storage::uninit(T::DTYPE, shape::numel(&out_shape)),
    };
    if x.numel() == 0 {
        // Only constant padding can grow an empty input, and the fill wrote all of it.
        return out;
    }
    let interior: isize = pads.iter().zip(&out_strides).map(|(&(b, _), &s)| b as isize * s).sum();
    // SAFETY: the interior box has the input's shape and sits inside the fresh output.
    unsafe {
        let dst = out.as_ptr::<T>().offset(interior);
        copy_box(shape, dst, &out_strides, x.base_ptr::<T>(), &x.layout.strides);
    }
    if mode != PadMode::Constant {
        for d in 0..shape.len() {
            fill_borders::<T>(&out, &out_shape, &out_strides, shape, pads, d, mode);
        }
    }
    out
}

/// Fills the borders of dim `d` of a reflect or replicate pad by copying output slices that
/// are already written: dims before `d` over their full padded extent (their borders are
/// done), dims after `d` over the interior only (their borders are not written yet).
fn fill_borders<T: Element>(
    out: &Storage,
    out_shape: &[usize],
    out_strides: &[isize],
    in_shape: &[usize],
    pads: &[(usize, usize)],
    d: usize,
    mode: PadMode,
) {
    let (before, after) = pads[d];
    let n = in_shape[d];
    let mut slice_shape: Vec<usize> = out_shape.to_vec();
    slice_shape[d] = 1;
    let mut corner = 0isize;
    for e in d + 1..out_shape.len() {
        slice_shape[e] = in_shape[e];
        corner += pads[e].0 as isize * out_strides[e];
    }
    // Output position along `d` that each border position copies.
    let source = |position: usize| -> usize {
        match (mode, position < before) {
            (PadMode::Reflect, true) => 2 * before - position,
            (PadMode::Reflect, false) => 2 * (before + n) - 2 - position,
            (_, true) => before,
            (_, false) => before + n - 1,
        }
    };
    let borders = (0..before).chain(before + n..before + n + after);
    for position in borders {
        let from = source(position);
        // SAFETY: both slices lie inside the output; they differ in their index along `d`
        // (a border position versus an interior one), so they do not overlap; the source
        // slice covers only positions already written.
        unsafe {
            let base = out.as_ptr::<T>().offset(corner);
            let dst = base.offset(position as isize * out_strides[d]);
            let src = base.offset(from as isize * out_strides[d]);
            copy_box(&slice_shape, dst, out_strides, src, out_strides);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::{Tensor, ints, values};
    use ignis_ir::DType;
    use proptest::prelude::*;

    fn cat_of(parts: &[&Tensor], dim: usize) -> Vec<f32> {
        let views: Vec<View> = parts.iter().map(|t| t.view()).collect();
        values(&cat(&views, dim))
    }

    #[test]
    fn cat_stacks_rows_along_dim_0() {
        // [[1, 2], [3, 4]] over [[5, 6]]: the second block follows the first.
        let a = Tensor::new(&ints(&[1, 2, 3, 4]), &[2, 2]);
        let b = Tensor::new(&ints(&[5, 6]), &[1, 2]);
        assert_eq!(cat_of(&[&a, &b], 0), ints(&[1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn cat_interleaves_rows_along_dim_1() {
        // [[1, 2], [3, 4]] beside [[9], [8]] = [[1, 2, 9], [3, 4, 8]].
        let a = Tensor::new(&ints(&[1, 2, 3, 4]), &[2, 2]);
        let b = Tensor::new(&ints(&[9, 8]), &[2, 1]);
        assert_eq!(cat_of(&[&a, &b], 1), ints(&[1, 2, 9, 3, 4, 8]));
    }

    fn cat_in<T: Element>() {
        // iota [2, 2] = [[0, 1], [2, 3]] beside iota [2, 1] = [[0], [1]] along dim 1.
        let a = Tensor::iota::<T>(&[2, 2]);
        let b = Tensor::iota::<T>(&[2, 1]);
        let out = cat(&[a.view(), b.view()], 1);
        assert_eq!(out.dtype(), T::DTYPE);
        let expected: Vec<T> = [0, 1, 0, 2, 3, 1].into_iter().map(T::from_i64).collect();
        assert_eq!(values::<T>(&out), expected);
    }

    #[test]
    fn cat_works_for_every_dtype() {
        for dtype in DType::ALL {
            with_dtype!(dtype, T => cat_in::<T>());
        }
    }

    #[test]
    fn cat_skips_empty_inputs() {
        // A [2, 0] input adds no columns; a [0, 3] input adds no rows.
        let empty_cols = Tensor::new::<f32>(&[], &[2, 0]);
        let b = Tensor::iota::<f32>(&[2, 3]);
        assert_eq!(cat_of(&[&empty_cols, &b], 1), ints(&[0, 1, 2, 3, 4, 5]));
        let empty_rows = Tensor::new::<f32>(&[], &[0, 3]);
        assert_eq!(cat_of(&[&b, &empty_rows], 0), ints(&[0, 1, 2, 3, 4, 5]));
        assert!(cat_of(&[&empty_rows, &empty_rows], 0).is_empty());
    }

    #[test]
    fn cat_of_strided_inputs_matches_contiguous() {
        let t = Tensor::iota::<f32>(&[3, 4]).transpose(0, 1); // [4, 3]
        let s = Tensor::iota::<f32>(&[4, 6]).slice(1, 1, 3, 2); // [4, 3], every other column
        let e = Tensor::iota::<f32>(&[1, 3]).expand(&[4, 3]);
        for dim in 0..2 {
            assert_eq!(cat_of(&[&t, &s, &e], dim), cat_of(&[&t.contiguous(), &s.contiguous(), &e.contiguous()], dim));
        }
    }

    #[test]
    fn cat_of_large_inputs_matches_elementwise_reference() {
        // Big enough to take the parallel path; element (i, j) of the result is a[i, j] for
        // j < 300 and b[i, j - 300] after, with a = iota and b = iota + 1e6.
        let a = Tensor::iota::<f64>(&[500, 300]);
        let b_data: Vec<f64> = (0..500 * 200).map(|i| 1e6 + i as f64).collect();
        let b = Tensor::new(&b_data, &[500, 200]);
        let out: Vec<f64> = values(&cat(&[a.view(), b.view()], 1));
        for i in 0..500 {
            for j in 0..500 {
                let expected = if j < 300 { (i * 300 + j) as f64 } else { 1e6 + (i * 200 + j - 300) as f64 };
                assert_eq!(out[i * 500 + j], expected);
            }
        }
    }

    #[test]
    fn long_rows_split_across_threads_keep_their_order() {
        // One contiguous row per input, long enough to be cut into pieces: cat along dim 0 of
        // iota(n) and iota(n) is i mod n at position i; flip puts n - 1 - i at position i.
        let n = 100_003;
        let a = Tensor::iota::<i64>(&[n]);
        let out: Vec<i64> = values(&cat(&[a.view(), a.view()], 0));
        assert!(out.iter().enumerate().all(|(i, &v)| v == (i % n) as i64));
        let out: Vec<i64> = values(&flip(a.view(), &[0]));
        assert!(out.iter().enumerate().all(|(i, &v)| v == (n - 1 - i) as i64));
    }

    #[test]
    #[should_panic(expected = "cat: shapes [2,2] and [3,3] differ in dim 1 (only dim 0 may differ)")]
    fn cat_rejects_mismatched_shapes() {
        let a = Tensor::iota::<f32>(&[2, 2]);
        let b = Tensor::iota::<f32>(&[3, 3]);
        cat(&[a.view(), b.view()], 0);
    }

    #[test]
    #[should_panic(expected = "cat: all tensors need one dtype, got f32 and i64")]
    fn cat_rejects_mixed_dtypes() {
        let a = Tensor::iota::<f32>(&[2]);
        let b = Tensor::iota::<i64>(&[2]);
        cat(&[a.view(), b.view()], 0);
    }

    #[test]
    fn flip_reverses_each_named_dim() {
        // [[1, 2, 3], [4, 5, 6]]: flipping dim 1 reverses rows; both dims reverse everything.
        let x = Tensor::new(&ints(&[1, 2, 3, 4, 5, 6]), &[2, 3]);
        assert_eq!(values::<f32>(&flip(x.view(), &[1])), ints(&[3, 2, 1, 6, 5, 4]));
        assert_eq!(values::<f32>(&flip(x.view(), &[0])), ints(&[4, 5, 6, 1, 2, 3]));
        assert_eq!(values::<f32>(&flip(x.view(), &[0, 1])), ints(&[6, 5, 4, 3, 2, 1]));
        assert_eq!(values::<f32>(&flip(x.view(), &[])), ints(&[1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn flip_of_strided_inputs_matches_contiguous() {
        let inputs = [
            Tensor::iota::<i32>(&[3, 4, 2]).transpose(0, 2),
            Tensor::iota::<i32>(&[5, 6]).slice(0, 1, 2, 3),
            Tensor::iota::<i32>(&[4, 1]).expand(&[4, 3]),
        ];
        for x in &inputs {
            for dims in [&[0][..], &[1], &[0, 1]] {
                assert_eq!(values::<i32>(&flip(x.view(), dims)), values::<i32>(&flip(x.contiguous().view(), dims)));
            }
        }
    }

    #[test]
    #[should_panic(expected = "flip: dim 1 appears more than once in [1, 1]")]
    fn flip_rejects_repeated_dims() {
        flip(Tensor::iota::<f32>(&[2, 2]).view(), &[1, 1]);
    }

    #[test]
    fn roll_moves_elements_forward_cyclically() {
        // Rolling [1, 2, 3, 4, 5] by 2 moves each element two places on: [4, 5, 1, 2, 3];
        // by -1 one place back: [2, 3, 4, 5, 1]; by 7 = 2 (mod 5) as by 2.
        let x = Tensor::new(&ints(&[1, 2, 3, 4, 5]), &[5]);
        assert_eq!(values::<f32>(&roll(x.view(), &[2], &[0])), ints(&[4, 5, 1, 2, 3]));
        assert_eq!(values::<f32>(&roll(x.view(), &[-1], &[0])), ints(&[2, 3, 4, 5, 1]));
        assert_eq!(values::<f32>(&roll(x.view(), &[7], &[0])), ints(&[4, 5, 1, 2, 3]));
    }

    #[test]
    fn roll_combines_dims() {
        // [[1, 2, 3], [4, 5, 6]] rolled by 1 in dim 0 swaps the rows, [[4, 5, 6], [1, 2, 3]],
        // then by 1 in dim 1 rotates each row right: [[6, 4, 5], [3, 1, 2]].
        let x = Tensor::new(&ints(&[1, 2, 3, 4, 5, 6]), &[2, 3]);
        assert_eq!(values::<f32>(&roll(x.view(), &[1, 1], &[0, 1])), ints(&[6, 4, 5, 3, 1, 2]));
        // A repeated dim adds its shifts: 1 + 1 in dim 1 rotates each row right twice.
        assert_eq!(values::<f32>(&roll(x.view(), &[1, 1], &[1, 1])), ints(&[2, 3, 1, 5, 6, 4]));
    }

    #[test]
    fn roll_without_dims_rolls_the_flattened_tensor() {
        // Flattened [1..6] rolled by 1 is [6, 1, 2, 3, 4, 5], read back in shape [2, 3].
        let x = Tensor::new(&ints(&[1, 2, 3, 4, 5, 6]), &[2, 3]);
        assert_eq!(values::<f32>(&roll(x.view(), &[1], &[])), ints(&[6, 1, 2, 3, 4, 5]));
        // Transposed, the flattened order is [1, 4, 2, 5, 3, 6]; rolled by -2: [2, 5, 3, 6, 1, 4].
        let t = x.transpose(0, 1);
        assert_eq!(values::<f32>(&roll(t.view(), &[-2], &[])), ints(&[2, 5, 3, 6, 1, 4]));
    }

    #[test]
    fn roll_of_strided_inputs_matches_contiguous() {
        let inputs = [
            Tensor::iota::<u8>(&[3, 4, 2]).transpose(0, 1),
            Tensor::iota::<u8>(&[6, 5]).slice(1, 0, 3, 2),
            Tensor::iota::<u8>(&[1, 5]).expand(&[3, 5]),
        ];
        for x in &inputs {
            let (shifts, dims) = (&[2, -1][..], &[0, 1][..]);
            assert_eq!(
                values::<u8>(&roll(x.view(), shifts, dims)),
                values::<u8>(&roll(x.contiguous().view(), shifts, dims))
            );
        }
    }

    #[test]
    fn roll_of_empty_tensor_is_empty() {
        let x = Tensor::new::<f32>(&[], &[0, 3]);
        assert!(roll(x.view(), &[1, 1], &[0, 1]).is_empty());
    }

    fn pad_f32(x: &Tensor, pads: &[(usize, usize)], mode: PadMode) -> Vec<f32> {
        values(&pad(x.view(), pads, mode, Scalar::Float(9.0)))
    }

    #[test]
    fn constant_pad_surrounds_with_the_value() {
        // [[1, 2], [3, 4]] with one row before and two columns after, filled with 9:
        // [[9, 9, 9, 9], [1, 2, 9, 9], [3, 4, 9, 9]].
        let x = Tensor::new(&ints(&[1, 2, 3, 4]), &[2, 2]);
        let expected = ints(&[9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9]);
        assert_eq!(pad_f32(&x, &[(1, 0), (0, 2)], PadMode::Constant), expected);
    }

    #[test]
    fn constant_pad_converts_the_value_and_grows_empty_inputs() {
        // An empty [0] input padded by (1, 2) is all fill: 2.7 truncates to 2 in i64.
        let x = Tensor::new::<i64>(&[], &[0]);
        assert_eq!(values::<i64>(&pad(x.view(), &[(1, 2)], PadMode::Constant, Scalar::Float(2.7))), vec![2, 2, 2]);
    }

    #[test]
    fn reflect_pad_mirrors_without_repeating_the_edge() {
        // [1, 2, 3, 4] by (2, 2): the mirror of 1 is 2, 3 before; of 4 is 3, 2 after.
        let x = Tensor::new(&ints(&[1, 2, 3, 4]), &[4]);
        assert_eq!(pad_f32(&x, &[(2, 2)], PadMode::Reflect), ints(&[3, 2, 1, 2, 3, 4, 3, 2]));
        // [[1, 2, 3], [4, 5, 6]] by one on every side: rows become [r1, r0, r1, r0], then each
        // row [a, b, c] becomes [b, a, b, c, b] (corners reflect in both dims, as in PyTorch).
        let x = Tensor::new(&ints(&[1, 2, 3, 4, 5, 6]), &[2, 3]);
        let expected = ints(&[5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2]);
        assert_eq!(pad_f32(&x, &[(1, 1), (1, 1)], PadMode::Reflect), expected);
    }

    #[test]
    fn replicate_pad_repeats_the_edge() {
        // [[1, 2], [3, 4]] with a row before, one column before and two after: rows
        // [r0, r0, r1], each row [a, b] becomes [a, a, b, b, b].
        let x = Tensor::new(&ints(&[1, 2, 3, 4]), &[2, 2]);
        let expected = ints(&[1, 1, 2, 2, 2, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4]);
        assert_eq!(pad_f32(&x, &[(1, 0), (1, 2)], PadMode::Replicate), expected);
    }

    #[test]
    fn pad_of_strided_inputs_matches_contiguous() {
        let inputs = [
            Tensor::iota::<f32>(&[3, 4, 5]).transpose(0, 2),
            Tensor::iota::<f32>(&[7, 6, 3]).slice(1, 1, 3, 2),
            Tensor::iota::<f32>(&[4, 1, 3]).expand(&[4, 3, 3]),
        ];
        let pads = [(1, 2), (2, 1), (0, 2)];
        for x in &inputs {
            for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Replicate] {
                assert_eq!(pad_f32(x, &pads, mode), pad_f32(&x.contiguous(), &pads, mode), "{mode:?}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "pad: reflect padding (3, 0) of dim 0 must be less than its size 3")]
    fn reflect_pad_must_be_smaller_than_the_dim() {
        pad_f32(&Tensor::iota::<f32>(&[3]), &[(3, 0)], PadMode::Reflect);
    }

    proptest! {
        #[test]
        fn flip_twice_is_identity(rows in 1usize..6, cols in 1usize..6, transpose: bool, dims in 0usize..3) {
            let base = Tensor::iota::<i64>(&[rows, cols]);
            let x = if transpose { base.transpose(0, 1) } else { base };
            let dims = [&[0][..], &[1], &[0, 1]][dims];
            let once = flip(x.view(), dims);
            let layout = Layout::contiguous(x.view().shape());
            let twice = flip(View::new(&once, &layout), dims);
            prop_assert_eq!(values::<i64>(&twice), values::<i64>(&x.contiguous().storage));
        }

        #[test]
        fn roll_back_is_identity(rows in 1usize..6, cols in 1usize..6, s0 in -9isize..9, s1 in -9isize..9) {
            let x = Tensor::iota::<i64>(&[rows, cols]).transpose(0, 1);
            let there = roll(x.view(), &[s0, s1], &[0, 1]);
            let layout = Layout::contiguous(x.view().shape());
            let back = roll(View::new(&there, &layout), &[-s0, -s1], &[0, 1]);
            prop_assert_eq!(values::<i64>(&back), values::<i64>(&x.contiguous().storage));
        }
    }
}
