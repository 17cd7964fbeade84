//! Reductions over axes: sum, mean, prod, max, min, argmax, argmin, any, all; and the
//! statistics built on them, var and logsumexp.
//!
//! Every reduction is one `Reducer` (what to do with a contiguous run, how to combine two
//! results, how to fold a row into per-column accumulators) driven over one of two memory
//! shapes of a contiguous input:
//! - rows: the reduced axes are the innermost block, so each output is a contiguous run
//!   (runs longer than `BLOCK` are cut into fixed blocks reduced in parallel, which also
//!   covers the full reduction of a large tensor);
//! - columns: the reduced axes are a block with kept axes inside it (`[outer, len, inner]`),
//!   so whole rows of `inner` are folded into accumulators, vectorized across columns.
//!
//! Anything else is permuted (kept axes first, reduced last) and copied into the rows shape.
//! Pieces are fixed by the problem size and combined in order, so results are bitwise
//! identical for any thread count.

use super::accumulate::{Arith, Real, fold_map, max_nan, min_nan, tree};
use super::copy::{cast, contiguous};
use crate::element::Element;
use crate::layout::Layout;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use ignis_ir::{DType, ReduceOp};
use std::marker::PhantomData;

/// A reduced run longer than this is split into blocks of this many elements.
const BLOCK: usize = 1 << 16;
/// About this many elements per parallel task.
const GRAIN: usize = 1 << 15;
/// Rows folded sequentially into column accumulators before partials combine pairwise.
const LEAF_ROWS: usize = 64;
/// Columns per task in the columns shape: the accumulators stay in L1.
const TILE: usize = 512;

/// One kind of reduction.
pub(crate) trait Reducer: Sync {
    type In: Element;
    type Acc: Copy + Send + Sync;
    type Out: Element;
    fn identity(&self) -> Self::Acc;
    /// Reduces `xs`, the piece of output `row`'s run that starts at position `first` of it.
    fn run(&self, row: usize, xs: &[Self::In], first: usize) -> Self::Acc;
    /// Combines the results of two adjacent pieces, `a` before `b`.
    fn combine(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// Folds the row at position `index` of the reduced run into per-column accumulators.
    fn accumulate(&self, acc: &mut [Self::Acc], xs: &[Self::In], index: usize);
    /// The output for `row` from its accumulator over a run of `count` elements.
    fn finish(&self, row: usize, acc: Self::Acc, count: usize) -> Self::Out;
}

/// A reduction that is a plain associative fold (sum, prod, max, min, any, all, mean).
struct Fold<T, O, F, G> {
    identity: T,
    f: F,
    finish: G,
    out: PhantomData<fn() -> O>,
}

fn fold<T: Element, O: Element>(
    identity: T,
    f: impl Fn(T, T) -> T + Copy + Sync,
    finish: impl Fn(T, usize) -> O + Sync,
) -> impl Reducer<In = T, Out = O> {
    Fold { identity, f, finish, out: PhantomData }
}

impl<T, O, F, G> Reducer for Fold<T, O, F, G>
where
    T: Element,
    O: Element,
    F: Fn(T, T) -> T + Copy + Sync,
    G: Fn(T, usize) -> O + Sync,
{
    type In = T;
    type Acc = T;
    type Out = O;
    fn identity(&self) -> T {
        self.identity
    }
    #[inline]
    fn run(&self, _row: usize, xs: &[T], _first: usize) -> T {
        fold_map(xs, self.identity, |x| x, self.f)
    }
    fn combine(&self, a: T, b: T) -> T {
        (self.f)(a, b)
    }
    #[inline]
    fn accumulate(&self, acc: &mut [T], xs: &[T], _index: usize) {
        for (a, &x) in acc.iter_mut().zip(xs) {
            *a = (self.f)(*a, x);
        }
    }
    fn finish(&self, _row: usize, acc: T, count: usize) -> O {
        (self.finish)(acc, count)
    }
}

/// argmax (`MAX`) or argmin: the first position of the extreme value; NaN beats everything
/// but an earlier NaN, as in PyTorch.
struct Arg<T, const MAX: bool>(PhantomData<fn() -> T>);

impl<T: Element, const MAX: bool> Arg<T, MAX> {
    #[inline(always)]
    fn better(candidate: T, best: T) -> bool {
        #[allow(clippy::eq_op)]
        let (c_nan, b_nan) = (candidate != candidate, best != best);
        if b_nan {
            false
        } else if c_nan {
            true
        } else if MAX {
            candidate > best
        } else {
            candidate < best
        }
    }
}

impl<T: Element, const MAX: bool> Reducer for Arg<T, MAX> {
    type In = T;
    /// (value, position); position -1 marks "nothing seen yet".
    type Acc = (T, i64);
    type Out = i64;
    fn identity(&self) -> (T, i64) {
        (T::zero(), -1)
    }
    fn run(&self, _row: usize, xs: &[T], first: usize) -> (T, i64) {
        let mut best = (xs[0], first as i64);
        for (i, &x) in xs.iter().enumerate().skip(1) {
            if Self::better(x, best.0) {
                best = (x, (first + i) as i64);
            }
        }
        best
    }
    fn combine(&self, a: (T, i64), b: (T, i64)) -> (T, i64) {
        if a.1 < 0 || (b.1 >= 0 && Self::better(b.0, a.0)) { b } else { a }
    }
    fn accumulate(&self, acc: &mut [(T, i64)], xs: &[T], index: usize) {
        for (a, &x) in acc.iter_mut().zip(xs) {
            if a.1 < 0 || Self::better(x, a.0) {
                *a = (x, index as i64);
            }
        }
    }
    fn finish(&self, _row: usize, acc: (T, i64), _count: usize) -> i64 {
        acc.1
    }
}

/// Reduces `x` over `axes` (sorted, unique, non-empty; one axis for argmax/argmin).
/// The result has dtype `op.result_dtype(x.dtype())` and is contiguous.
pub fn reduce(op: ReduceOp, x: View, axes: &[usize], keepdim: bool) -> Storage {
    use ReduceOp::*;
    let name = op.name();
    check_axes(name, x.shape(), axes);
    if matches!(op, ArgMax | ArgMin) {
        assert_eq!(axes.len(), 1, "{name}(): reduces one dim, got dims {axes:?}");
    }
    let len: usize = axes.iter().map(|&a| x.shape()[a]).product();
    if len == 0 && matches!(op, Max | Min | ArgMax | ArgMin) {
        panic!(
            "{name}(): cannot reduce over an empty dimension (input shape {:?}, dims {axes:?}): \
             the operation has no identity",
            x.shape()
        );
    }
    let dtype = x.dtype();
    // The dtype the kernel computes in: half floats widen to f32, integer sums to i64,
    // bool max/min go through u8, and any/all test bools.
    let compute = match op {
        Sum | Prod if !dtype.is_float() => DType::I64,
        Mean if !dtype.is_float() => DType::F32,
        Any | All => DType::Bool,
        _ if dtype.is_half() => DType::F32,
        Max | Min | ArgMax | ArgMin if dtype == DType::Bool => DType::U8,
        _ => dtype,
    };
    let widened;
    let widened_layout;
    let x = if compute == dtype {
        x
    } else {
        widened = cast(x, compute);
        widened_layout = Layout::contiguous(x.shape());
        View::new(&widened, &widened_layout)
    };
    let out = reduce_native(op, x, axes, keepdim);
    let result = op.result_dtype(dtype);
    if out.dtype() == result {
        out
    } else {
        let out_shape = ignis_ir::shape::reduce(x.shape(), axes, keepdim);
        cast(View::new(&out, &Layout::contiguous(&out_shape)), result)
    }
}

fn check_axes(name: &str, shape: &[usize], axes: &[usize]) {
    assert!(!axes.is_empty(), "{name}(): no dims to reduce (the caller passes every dim for a full reduction)");
    assert!(
        axes.windows(2).all(|w| w[0] < w[1]) && axes.iter().all(|&a| a < shape.len()),
        "{name}(): dims {axes:?} must be sorted, unique and below the rank of {shape:?}"
    );
}

/// Runs `op` on a dtype it computes natively (f32, f64, i64, i32, u8, bool).
fn reduce_native(op: ReduceOp, x: View, axes: &[usize], keepdim: bool) -> Storage {
    use ReduceOp::*;
    fn run<R: Reducer>(r: R, x: View, axes: &[usize], keepdim: bool) -> Storage {
        drive(&r, x, axes, keepdim)
    }
    fn ordered<T: Arith>(op: ReduceOp, x: View, axes: &[usize], keepdim: bool) -> Storage {
        match op {
            Max => run(fold(T::lowest(), max_nan::<T>, |a, _| a), x, axes, keepdim),
            Min => run(fold(T::highest(), min_nan::<T>, |a, _| a), x, axes, keepdim),
            ArgMax => run(Arg::<T, true>(PhantomData), x, axes, keepdim),
            ArgMin => run(Arg::<T, false>(PhantomData), x, axes, keepdim),
            _ => unreachable!("{} is not an ordering reduction", op.name()),
        }
    }
    fn float<T: Real>(op: ReduceOp, x: View, axes: &[usize], keepdim: bool) -> Storage {
        match op {
            Sum => run(fold(T::zero(), T::plus, |a, _| a), x, axes, keepdim),
            Prod => run(fold(T::one(), T::times, |a, _| a), x, axes, keepdim),
            // An empty mean is 0 / 0 = NaN, as in PyTorch.
            Mean => run(fold(T::zero(), T::plus, |a, n| a / T::from_usize(n)), x, axes, keepdim),
            _ => ordered::<T>(op, x, axes, keepdim),
        }
    }
    match (op, x.dtype()) {
        (Any, DType::Bool) => run(fold(false, bool::plus, |a, _| a), x, axes, keepdim),
        (All, DType::Bool) => run(fold(true, bool::times, |a, _| a), x, axes, keepdim),
        (_, DType::F32) => float::<f32>(op, x, axes, keepdim),
        (_, DType::F64) => float::<f64>(op, x, axes, keepdim),
        (Sum, DType::I64) => run(fold(0i64, i64::plus, |a, _| a), x, axes, keepdim),
        (Prod, DType::I64) => run(fold(1i64, i64::times, |a, _| a), x, axes, keepdim),
        (Max | Min | ArgMax | ArgMin, DType::I64) => ordered::<i64>(op, x, axes, keepdim),
        (Max | Min | ArgMax | ArgMin, DType::I32) => ordered::<i32>(op, x, axes, keepdim),
        (Max | Min | ArgMax | ArgMin, DType::U8) => ordered::<u8>(op, x, axes, keepdim),
        (op, dtype) => unreachable!("{}: no native kernel for {dtype}", op.name()),
    }
}

/// The reduced axes as one block `[outer, len, inner]` of a contiguous tensor, ignoring
/// size-1 dims; `None` when kept dims lie between reduced ones.
fn block_split(shape: &[usize], axes: &[usize]) -> Option<(usize, usize)> {
    #[derive(PartialEq)]
    enum At {
        Before,
        Inside,
        After,
    }
    let (mut at, mut outer, mut inner) = (At::Before, 1, 1);
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        match (axes.contains(&d), &at) {
            (false, At::Before) => outer *= n,
            (true, At::Before | At::Inside) => at = At::Inside,
            (false, At::Inside | At::After) => {
                at = At::After;
                inner *= n;
            }
            (true, At::After) => return None,
        }
    }
    if at == At::Before {
        // Every reduced dim has size 1: each output is one element.
        return Some((1, outer));
    }
    Some((outer, inner))
}

/// `x` as contiguous rows of its reduced elements, one row per output, in output order.
/// Borrows when the layout already is that; copies (kept axes first) otherwise.
pub(crate) fn as_rows<T: Element>(x: View, axes: &[usize], keep: impl FnOnce(&[T])) {
    if x.layout.is_contiguous()
        && let Some((_, 1)) = block_split(x.shape(), axes)
    {
        keep(x.contiguous_slice::<T>().expect("contiguous"));
        return;
    }
    let rank = x.shape().len();
    let perm: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).chain(axes.iter().copied()).collect();
    let permuted = x.layout.permute(&perm);
    let copy = contiguous(View::new(x.storage, &permuted));
    // SAFETY: `copy` is fresh and only read here.
    keep(unsafe { copy.slice::<T>() });
}

/// Reduces `x` (of `R::In`) with `r` into fresh storage of the output shape.
fn drive<R: Reducer>(r: &R, x: View, axes: &[usize], keepdim: bool) -> Storage {
    let out_shape = ignis_ir::shape::reduce(x.shape(), axes, keepdim);
    let rows = ignis_ir::shape::numel(&out_shape);
    let out = Storage::uninit(R::Out::DTYPE, rows);
    if rows == 0 {
        return out;
    }
    let len: usize = axes.iter().map(|&a| x.shape()[a]).product();
    // SAFETY: `out` is fresh; this is its only slice.
    let o = unsafe { out.slice_mut::<R::Out>() };
    if len == 0 {
        o.fill(r.finish(0, r.identity(), 0));
        return out;
    }
    if x.layout.is_contiguous()
        && let Some((outer, inner)) = block_split(x.shape(), axes)
        && inner > 1
    {
        let data = x.contiguous_slice::<R::In>().expect("contiguous");
        reduce_columns(r, data, outer, len, inner, o);
        return out;
    }
    as_rows::<R::In>(x, axes, |data| reduce_rows(r, data, rows, len, o));
    out
}

/// Reduces `rows` contiguous runs of `len` elements each.
pub(crate) fn reduce_rows<R: Reducer>(r: &R, data: &[R::In], rows: usize, len: usize, out: &mut [R::Out]) {
    debug_assert!(data.len() == rows * len && out.len() == rows);
    let out_ptr = SendPtr(out.as_mut_ptr());
    if len <= BLOCK {
        let grain = (GRAIN / len.max(1)).max(1);
        parallel::parallel_for(rows, grain, |a, b| {
            for row in a..b {
                let acc = r.run(row, &data[row * len..(row + 1) * len], 0);
                // SAFETY: row < rows = out.len(), and each row is written by one task only.
                unsafe { *out_ptr.get().add(row) = r.finish(row, acc, len) };
            }
        });
        return;
    }
    let blocks = len.div_ceil(BLOCK);
    let mut partial = vec![r.identity(); rows * blocks];
    let partial_ptr = SendPtr(partial.as_mut_ptr());
    parallel::parallel_for(rows * blocks, 1, |a, b| {
        for item in a..b {
            let (row, block) = (item / blocks, item % blocks);
            let start = block * BLOCK;
            let end = (start + BLOCK).min(len);
            let acc = r.run(row, &data[row * len + start..row * len + end], start);
            // SAFETY: item < partial.len(), and each item is written by one task only.
            unsafe { *partial_ptr.get().add(item) = acc };
        }
    });
    for (row, parts) in partial.chunks_exact(blocks).enumerate() {
        out[row] = r.finish(row, tree(parts, r.identity(), &|a, b| r.combine(a, b)), len);
    }
}

/// Reduces the middle axis of a contiguous `[outer, len, inner]` tensor (inner > 1).
///
/// Tasks fold `LEAF_ROWS` rows of a `TILE`-wide column strip into one partial row; the
/// partial rows of a strip are then combined pairwise, earlier rows on the left.
fn reduce_columns<R: Reducer>(r: &R, data: &[R::In], outer: usize, len: usize, inner: usize, out: &mut [R::Out]) {
    let groups = len.div_ceil(LEAF_ROWS);
    let tiles = inner.div_ceil(TILE);
    let width = TILE.min(inner);
    let mut partial = vec![r.identity(); outer * groups * inner];
    let partial_ptr = SendPtr(partial.as_mut_ptr());
    // The partial row of group `g` of slab `o`, restricted to columns c0..c1.
    let strip = move |o: usize, g: usize, c0: usize, c1: usize| {
        // SAFETY: within `partial` (o < outer, g < groups, c1 <= inner); callers hold at
        // most one reference to each (o, g, strip) at a time, and tasks own disjoint strips.
        unsafe { std::slice::from_raw_parts_mut(partial_ptr.get().add((o * groups + g) * inner + c0), c1 - c0) }
    };
    let grain = (GRAIN / (LEAF_ROWS * width)).max(1);
    parallel::parallel_for(outer * tiles * groups, grain, |a, b| {
        for item in a..b {
            let g = item % groups;
            let t = (item / groups) % tiles;
            let o = item / (groups * tiles);
            let (c0, c1) = (t * TILE, (t * TILE + TILE).min(inner));
            let acc = strip(o, g, c0, c1);
            for i in g * LEAF_ROWS..((g + 1) * LEAF_ROWS).min(len) {
                let base = (o * len + i) * inner;
                r.accumulate(acc, &data[base + c0..base + c1], i);
            }
        }
    });
    let out_ptr = SendPtr(out.as_mut_ptr());
    let grain = (GRAIN / (groups * width)).max(1);
    parallel::parallel_for(outer * tiles, grain, |a, b| {
        for item in a..b {
            let (o, t) = (item / tiles, item % tiles);
            let (c0, c1) = (t * TILE, (t * TILE + TILE).min(inner));
            let mut step = 1;
            while step < groups {
                for g in (0..groups - step).step_by(2 * step) {
                    let later: &[R::Acc] = strip(o, g + step, c0, c1);
                    for (x, &y) in strip(o, g, c0, c1).iter_mut().zip(later) {
                        *x = r.combine(*x, y);
                    }
                }
                step *= 2;
            }
            for (c, &acc) in (c0..c1).zip(strip(o, 0, c0, c1).iter()) {
                let row = o * inner + c;
                // SAFETY: row < outer * inner = out.len(); each (o, strip) has one task.
                unsafe { *out_ptr.get().add(row) = r.finish(row, acc, len) };
            }
        }
    });
}

/// Variance over `axes` with Bessel's `correction` (1: unbiased), two-pass: the mean, then
/// the mean squared deviation from it. Integers and bools compute in f32.
pub fn var(x: View, axes: &[usize], correction: usize, keepdim: bool) -> Storage {
    float_stat("var", x, axes, keepdim, |x| match x.dtype() {
        DType::F64 => var_typed::<f64>(x, axes, correction, keepdim),
        _ => var_typed::<f32>(x, axes, correction, keepdim),
    })
}

/// log(sum(exp(x))) over `axes`, shifted by the maximum so it neither overflows nor
/// underflows; rows of -inf give -inf.
pub fn logsumexp(x: View, axes: &[usize], keepdim: bool) -> Storage {
    float_stat("logsumexp", x, axes, keepdim, |x| match x.dtype() {
        DType::F64 => logsumexp_typed::<f64>(x, axes, keepdim),
        _ => logsumexp_typed::<f32>(x, axes, keepdim),
    })
}

/// Runs a float statistic in f32/f64: half floats widen and the result narrows back;
/// integers and bools give f32.
fn float_stat(name: &str, x: View, axes: &[usize], keepdim: bool, f: impl Fn(View) -> Storage) -> Storage {
    check_axes(name, x.shape(), axes);
    let dtype = x.dtype();
    if matches!(dtype, DType::F32 | DType::F64) {
        return f(x);
    }
    let widened = cast(x, DType::F32);
    let out = f(View::new(&widened, &Layout::contiguous(x.shape())));
    if dtype.is_half() {
        let out_shape = ignis_ir::shape::reduce(x.shape(), axes, keepdim);
        cast(View::new(&out, &Layout::contiguous(&out_shape)), dtype)
    } else {
        out
    }
}

/// Runs `pass(data, rows, len, out)` over `x` arranged as rows of reduced elements.
fn rows_stat<T: Real>(
    x: View,
    axes: &[usize],
    keepdim: bool,
    empty: T,
    pass: impl FnOnce(&[T], usize, usize, &mut [T]),
) -> Storage {
    let out_shape = ignis_ir::shape::reduce(x.shape(), axes, keepdim);
    let rows = ignis_ir::shape::numel(&out_shape);
    let len: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let out = Storage::uninit(T::DTYPE, rows);
    // SAFETY: `out` is fresh; this is its only slice.
    let o = unsafe { out.slice_mut::<T>() };
    if rows == 0 {
        return out;
    }
    if len == 0 {
        o.fill(empty);
        return out;
    }
    as_rows::<T>(x, axes, |data| pass(data, rows, len, o));
    out
}

/// Sum of squared deviations from a per-row mean, divided by `count - correction`.
struct Deviation<'a, T> {
    means: &'a [T],
    correction: usize,
}

impl<T: Real> Reducer for Deviation<'_, T> {
    type In = T;
    type Acc = T;
    type Out = T;
    fn identity(&self) -> T {
        T::zero()
    }
    fn run(&self, row: usize, xs: &[T], _first: usize) -> T {
        let mean = self.means[row];
        fold_map(
            xs,
            T::zero(),
            |x| {
                let d = x - mean;
                d * d
            },
            T::plus,
        )
    }
    fn combine(&self, a: T, b: T) -> T {
        a + b
    }
    fn accumulate(&self, _acc: &mut [T], _xs: &[T], _index: usize) {
        unreachable!("deviations are reduced as rows")
    }
    fn finish(&self, _row: usize, acc: T, count: usize) -> T {
        // Fewer elements than the correction: 0/0 = NaN or x/0 = inf, as in PyTorch.
        acc / T::from_usize(count.saturating_sub(self.correction))
    }
}

fn var_typed<T: Real>(x: View, axes: &[usize], correction: usize, keepdim: bool) -> Storage {
    let nan = T::zero() / T::zero();
    rows_stat::<T>(x, axes, keepdim, nan, |data, rows, len, out| {
        let mut means = vec![T::zero(); rows];
        reduce_rows(&fold(T::zero(), T::plus, |a, n| a / T::from_usize(n)), data, rows, len, &mut means);
        reduce_rows(&Deviation { means: &means, correction }, data, rows, len, out);
    })
}

/// Sum of exp(x - shift) per row, then log; the shift is the row's maximum when finite.
struct ShiftedExp<'a, T> {
    maxes: &'a [T],
}

impl<T: Real> Reducer for ShiftedExp<'_, T> {
    type In = T;
    type Acc = T;
    type Out = T;
    fn identity(&self) -> T {
        T::zero()
    }
    fn run(&self, row: usize, xs: &[T], _first: usize) -> T {
        let shift = self.maxes[row];
        if !shift.is_finite() {
            return T::zero();
        }
        fold_map(xs, T::zero(), |x| (x - shift).exp(), T::plus)
    }
    fn combine(&self, a: T, b: T) -> T {
        a + b
    }
    fn accumulate(&self, _acc: &mut [T], _xs: &[T], _index: usize) {
        unreachable!("logsumexp is reduced as rows")
    }
    fn finish(&self, row: usize, acc: T, _count: usize) -> T {
        let shift = self.maxes[row];
        // A maximum of +inf or -inf is the answer itself (every term is -inf in the latter
        // case); NaN propagates.
        if shift.is_finite() { acc.ln() + shift } else { shift }
    }
}

fn logsumexp_typed<T: Real>(x: View, axes: &[usize], keepdim: bool) -> Storage {
    let empty = T::lowest(); // log(0)
    rows_stat::<T>(x, axes, keepdim, empty, |data, rows, len, out| {
        let mut maxes = vec![T::zero(); rows];
        reduce_rows(&fold(T::lowest(), max_nan::<T>, |a, _| a), data, rows, len, &mut maxes);
        reduce_rows(&ShiftedExp { maxes: &maxes }, data, rows, len, out);
    })
}

#[cfg(test)]
#[path = "reduce_tests.rs"]
pub(crate) mod tests;
