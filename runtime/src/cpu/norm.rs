//! Fused normalizations: softmax, log_softmax, layer_norm and rms_norm.
//!
//! Each is row-parallel with one row per task-slice, and every pass after the first reads a
//! row that is already in L1, so memory sees one read of the input and one write of the
//! output. The folds are those of `accumulate` (fixed lanes and pairwise halves), so the
//! results do not depend on the thread count. f32 uses the vectorizable `exp_f32`; half
//! floats compute in f32.

use super::accumulate::{combine_lanes, fold_map, max_nan, sum, Real, LANES, LEAF};
use super::copy::cast;
use crate::layout::Layout;
use crate::parallel::{self, SendPtr};
use crate::storage::{Storage, View};
use ignis_ir::DType;

/// About this many elements per parallel task.
const GRAIN: usize = 1 << 15;
/// Columns per task when the softmax dim is not the last one.
const TILE: usize = 256;

/// The dtype a float kernel computes in: f64 stays, everything else uses f32.
fn compute_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 { DType::F64 } else { DType::F32 }
}

/// `x` as a contiguous view of `dtype`, copying or converting only when needed.
fn contiguous_as<'a>(x: View<'a>, dtype: DType, holder: &'a mut Option<Storage>, layout: &'a Layout) -> View<'a> {
    if x.dtype() == dtype && x.layout.is_contiguous() {
        return x;
    }
    View::new(holder.insert(cast(x, dtype)), layout)
}

/// Softmax along `dim`: `exp(x - max) / sum(exp(x - max))`.
pub fn softmax(x: View, dim: usize) -> Storage {
    softmax_any("softmax", x, dim, false)
}

/// Log-softmax along `dim`: `x - max - log(sum(exp(x - max)))`.
pub fn log_softmax(x: View, dim: usize) -> Storage {
    softmax_any("log_softmax", x, dim, true)
}

fn softmax_any(name: &str, x: View, dim: usize, log: bool) -> Storage {
    let shape = x.shape();
    assert!(dim < shape.len().max(1), "{name}(): dim {dim} is out of range for shape {shape:?}");
    let dtype = x.dtype();
    let compute = compute_dtype(dtype);
    let layout = Layout::contiguous(shape);
    let mut holder = None;
    let input = contiguous_as(x, compute, &mut holder, &layout);
    let (outer, len, inner) = if shape.is_empty() {
        (1, 1, 1)
    } else {
        (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
    };
    let out = match compute {
        DType::F64 => softmax_typed::<f64>(input, outer, len, inner, log),
        _ => softmax_typed::<f32>(input, outer, len, inner, log),
    };
    if dtype.is_half() { cast(View::new(&out, &layout), dtype) } else { out }
}

fn softmax_typed<T: Real>(x: View, outer: usize, len: usize, inner: usize, log: bool) -> Storage {
    let input = x.contiguous_slice::<T>().expect("contiguous");
    let out = Storage::uninit(T::DTYPE, input.len());
    if input.is_empty() {
        return out;
    }
    let o = SendPtr(out.as_ptr::<T>());
    if inner == 1 {
        let grain = (GRAIN / len).max(1);
        parallel::parallel_for(outer, grain, |a, b| {
            // SAFETY: rows a..b of `out` belong to this task alone.
            let dst = unsafe { std::slice::from_raw_parts_mut(o.get().add(a * len), (b - a) * len) };
            for (y, x) in dst.chunks_exact_mut(len).zip(input[a * len..b * len].chunks_exact(len)) {
                softmax_row(x, y, log);
            }
        });
        return out;
    }
    let tiles = inner.div_ceil(TILE);
    let grain = (GRAIN / (len * TILE.min(inner))).max(1);
    parallel::parallel_for(outer * tiles, grain, |a, b| {
        for item in a..b {
            let (slab, t) = (item / tiles, item % tiles);
            let (c0, c1) = (t * TILE, (t * TILE + TILE).min(inner));
            let base = slab * len * inner;
            // SAFETY: the slab lies within `out`; this task alone writes its columns c0..c1.
            unsafe { softmax_columns(&input[base..base + len * inner], o.get().add(base), inner, c0, c1, log) };
        }
    });
    out
}

/// Softmax of one contiguous row: max, then exp (stored) and its sum, then a scale; the row
/// is in L1 after the first pass.
#[inline]
fn softmax_row<T: Real>(x: &[T], y: &mut [T], log: bool) {
    let max = fold_map(x, T::lowest(), |v| v, max_nan::<T>);
    if log {
        let shift = max + fold_map(x, T::zero(), |v| (v - max).exp(), T::plus).ln();
        for (y, &v) in y.iter_mut().zip(x) {
            *y = v - shift;
        }
    } else {
        let inverse = T::one() / exp_store(x, y, max);
        for y in y.iter_mut() {
            *y = *y * inverse;
        }
    }
}

/// Writes `exp(x - max)` into `y` and returns its sum, grouped as `fold_map` groups.
fn exp_store<T: Real>(x: &[T], y: &mut [T], max: T) -> T {
    if x.len() > LEAF {
        let half = (x.len() / 2).div_ceil(LANES) * LANES;
        let (xa, xb) = x.split_at(half);
        let (ya, yb) = y.split_at_mut(half);
        return exp_store(xa, ya, max) + exp_store(xb, yb, max);
    }
    let mut acc = [T::zero(); LANES];
    let mut xs = x.chunks_exact(LANES);
    let mut ys = y.chunks_exact_mut(LANES);
    for (xc, yc) in (&mut xs).zip(&mut ys) {
        for i in 0..LANES {
            let e = (xc[i] - max).exp();
            yc[i] = e;
            acc[i] = acc[i] + e;
        }
    }
    for ((a, &v), y) in acc.iter_mut().zip(xs.remainder()).zip(ys.into_remainder()) {
        let e = (v - max).exp();
        *y = e;
        *a = *a + e;
    }
    combine_lanes(acc, T::plus)
}

/// Softmax down the columns c0..c1 of a contiguous `[len, inner]` slab; vectorized across
/// columns, with per-column max and sum kept in small buffers.
///
/// # Safety
/// `y` points at a `[len, inner]` slab of which the caller owns columns c0..c1.
unsafe fn softmax_columns<T: Real>(x: &[T], y: *mut T, inner: usize, c0: usize, c1: usize, log: bool) {
    let len = x.len() / inner;
    let width = c1 - c0;
    let input = |i: usize| &x[i * inner + c0..i * inner + c1];
    // SAFETY: row i's columns c0..c1 are within the slab and owned by the caller; each
    // returned slice is dropped before the next is made.
    let output = |i: usize| unsafe { std::slice::from_raw_parts_mut(y.add(i * inner + c0), width) };
    let mut max = vec![T::lowest(); width];
    for i in 0..len {
        for (m, &v) in max.iter_mut().zip(input(i)) {
            *m = max_nan(*m, v);
        }
    }
    let mut total = vec![T::zero(); width];
    for i in 0..len {
        for (((s, &m), &v), y) in total.iter_mut().zip(&max).zip(input(i)).zip(output(i)) {
            let e = (v - m).exp();
            *y = e;
            *s = *s + e;
        }
    }
    // Reused as the per-column shift (log) or scale (softmax).
    for (s, &m) in total.iter_mut().zip(&max) {
        *s = if log { m + s.ln() } else { T::one() / *s };
    }
    for i in 0..len {
        for ((y, &v), &s) in output(i).iter_mut().zip(input(i)).zip(&total) {
            *y = if log { v - s } else { *y * s };
        }
    }
}

/// The normalized shape (the last `normalized` dims), rows before it, and its element count.
fn normalized_split<'a>(name: &str, shape: &'a [usize], normalized: usize, dtype: DType) -> (&'a [usize], usize, usize) {
    assert!(
        normalized <= shape.len(),
        "{name}(): cannot normalize the last {normalized} dims of a tensor of shape {shape:?}"
    );
    assert!(dtype.is_float(), "{name}(): expected a floating-point input, got {dtype}");
    let split = shape.len() - normalized;
    (&shape[split..], shape[..split].iter().product(), shape[split..].iter().product())
}

/// A weight or bias: checked against the normalized shape, contiguous, in `dtype`.
fn parameter(name: &str, what: &str, p: Option<View>, normalized_shape: &[usize], dtype: DType) -> Option<Storage> {
    let p = p?;
    assert_eq!(
        p.shape(),
        normalized_shape,
        "{name}(): {what} of shape {:?} does not match the normalized shape {normalized_shape:?}",
        p.shape()
    );
    Some(cast(p, dtype))
}

/// Layer normalization over the last `normalized` dims: `(x - mean) * rstd * weight + bias`
/// with the biased variance. Returns (output like x, mean [rows], rstd [rows]); the
/// statistics are f32, or f64 for f64 input.
pub fn layer_norm(
    x: View,
    normalized: usize,
    weight: Option<View>,
    bias: Option<View>,
    eps: f64,
) -> (Storage, Storage, Storage) {
    let name = "layer_norm";
    let shape = x.shape();
    let dtype = x.dtype();
    let (norm_shape, rows, len) = normalized_split(name, shape, normalized, dtype);
    let compute = compute_dtype(dtype);
    let weight = parameter(name, "weight", weight, norm_shape, compute);
    let bias = parameter(name, "bias", bias, norm_shape, compute);
    let layout = Layout::contiguous(shape);
    let mut holder = None;
    let input = contiguous_as(x, compute, &mut holder, &layout);
    let (out, mean, rstd) = match compute {
        DType::F64 => layer_norm_typed::<f64>(input, rows, len, weight.as_ref(), bias.as_ref(), eps),
        _ => layer_norm_typed::<f32>(input, rows, len, weight.as_ref(), bias.as_ref(), eps),
    };
    let out = if dtype.is_half() { cast(View::new(&out, &layout), dtype) } else { out };
    (out, mean, rstd)
}

fn layer_norm_typed<T: Real>(
    x: View,
    rows: usize,
    len: usize,
    weight: Option<&Storage>,
    bias: Option<&Storage>,
    eps: f64,
) -> (Storage, Storage, Storage) {
    let input = x.contiguous_slice::<T>().expect("contiguous");
    // SAFETY: the parameters are fresh copies made by `parameter`, only read here.
    let weight = weight.map(|w| unsafe { w.slice::<T>() });
    // SAFETY: as for the weight.
    let bias = bias.map(|b| unsafe { b.slice::<T>() });
    let out = Storage::uninit(T::DTYPE, rows * len);
    let mean = Storage::uninit(T::DTYPE, rows);
    let rstd = Storage::uninit(T::DTYPE, rows);
    let (o, m, r) = (SendPtr(out.as_ptr::<T>()), SendPtr(mean.as_ptr::<T>()), SendPtr(rstd.as_ptr::<T>()));
    let eps = T::from_f64(eps);
    let n = T::from_usize(len);
    parallel::parallel_for(rows, (GRAIN / len.max(1)).max(1), |a, b| {
        for row in a..b {
            let x = &input[row * len..(row + 1) * len];
            // SAFETY: row `row` of `out` (and its mean and rstd) belong to this task alone.
            let y = unsafe { std::slice::from_raw_parts_mut(o.get().add(row * len), len) };
            let mu = sum(x) / n;
            let variance = fold_map(
                x,
                T::zero(),
                |v| {
                    let d = v - mu;
                    d * d
                },
                T::plus,
            ) / n;
            let rs = T::one() / (variance + eps).sqrt();
            // One loop per parameter combination keeps each a straight vectorizable map.
            match (weight, bias) {
                (Some(w), Some(b)) => {
                    for (((y, &v), &w), &b) in y.iter_mut().zip(x).zip(w).zip(b) {
                        *y = (v - mu) * rs * w + b;
                    }
                }
                (Some(w), None) => {
                    for ((y, &v), &w) in y.iter_mut().zip(x).zip(w) {
                        *y = (v - mu) * rs * w;
                    }
                }
                (None, Some(b)) => {
                    for ((y, &v), &b) in y.iter_mut().zip(x).zip(b) {
                        *y = (v - mu) * rs + b;
                    }
                }
                (None, None) => {
                    for (y, &v) in y.iter_mut().zip(x) {
                        *y = (v - mu) * rs;
                    }
                }
            }
            // SAFETY: as above; row < rows.
            unsafe {
                *m.get().add(row) = mu;
                *r.get().add(row) = rs;
            }
        }
    });
    (out, mean, rstd)
}

/// RMS normalization over the last `normalized` dims: `x * rstd * weight` with
/// `rstd = 1 / sqrt(mean(x^2) + eps)`. Returns (output like x, rstd [rows]); rstd is f32,
/// or f64 for f64 input.
pub fn rms_norm(x: View, normalized: usize, weight: Option<View>, eps: f64) -> (Storage, Storage) {
    let name = "rms_norm";
    let shape = x.shape();
    let dtype = x.dtype();
    let (norm_shape, rows, len) = normalized_split(name, shape, normalized, dtype);
    let compute = compute_dtype(dtype);
    let weight = parameter(name, "weight", weight, norm_shape, compute);
    let layout = Layout::contiguous(shape);
    let mut holder = None;
    let input = contiguous_as(x, compute, &mut holder, &layout);
    let (out, rstd) = match compute {
        DType::F64 => rms_norm_typed::<f64>(input, rows, len, weight.as_ref(), eps),
        _ => rms_norm_typed::<f32>(input, rows, len, weight.as_ref(), eps),
    };
    let out = if dtype.is_half() { cast(View::new(&out, &layout), dtype) } else { out };
    (out, rstd)
}

fn rms_norm_typed<T: Real>(x: View, rows: usize, len: usize, weight: Option<&Storage>, eps: f64) -> (Storage, Storage) {
    let input = x.contiguous_slice::<T>().expect("contiguous");
    // SAFETY: the weight is a fresh copy made by `parameter`, only read here.
    let weight = weight.map(|w| unsafe { w.slice::<T>() });
    let out = Storage::uninit(T::DTYPE, rows * len);
    let rstd = Storage::uninit(T::DTYPE, rows);
    let (o, r) = (SendPtr(out.as_ptr::<T>()), SendPtr(rstd.as_ptr::<T>()));
    let eps = T::from_f64(eps);
    let n = T::from_usize(len);
    parallel::parallel_for(rows, (GRAIN / len.max(1)).max(1), |a, b| {
        for row in a..b {
            let x = &input[row * len..(row + 1) * len];
            // SAFETY: row `row` of `out` and of `rstd` belong to this task alone.
            let y = unsafe { std::slice::from_raw_parts_mut(o.get().add(row * len), len) };
            let rs = T::one() / (fold_map(x, T::zero(), |v| v * v, T::plus) / n + eps).sqrt();
            match weight {
                Some(w) => {
                    for ((y, &v), &w) in y.iter_mut().zip(x).zip(w) {
                        *y = v * rs * w;
                    }
                }
                None => {
                    for (y, &v) in y.iter_mut().zip(x) {
                        *y = v * rs;
                    }
                }
            }
            // SAFETY: as above; row < rows.
            unsafe { *r.get().add(row) = rs };
        }
    });
    (out, rstd)
}
