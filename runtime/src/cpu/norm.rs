//! Fused normalizations: softmax, log_softmax, layer_norm and rms_norm.
//!
//! Each is row-parallel with one row per task-slice, and every pass after the first reads a
//! row that is already in L1, so memory sees one read of the input and one write of the
//! output. The folds are those of `accumulate` (fixed lanes and pairwise halves), so the
//! results do not depend on the thread count. f32 uses `exp_f32`'s polynomial in a form
//! that vectorizes (`accumulate::exp_f32_vector`); half floats compute in f32.

use super::accumulate::{LANES, LEAF, Real, combine_lanes, fold_map, max_nan, sum};
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
        // (x - max) - log(sum) rather than x - (max + log(sum)): the sum of a large max and
        // a small log would round to the spacing of the max.
        let log_sum = fold_map(x, T::zero(), |v| (v - max).exp(), T::plus).ln();
        for (y, &v) in y.iter_mut().zip(x) {
            *y = (v - max) - log_sum;
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
    // Reused as the per-column log of the sum (log) or scale (softmax).
    for s in total.iter_mut() {
        *s = if log { s.ln() } else { T::one() / *s };
    }
    for i in 0..len {
        for (((y, &v), &s), &m) in output(i).iter_mut().zip(input(i)).zip(&total).zip(&max) {
            *y = if log { (v - m) - s } else { *y * s };
        }
    }
}

/// The normalized shape (the last `normalized` dims), rows before it, and its element count.
fn normalized_split<'a>(
    name: &str,
    shape: &'a [usize],
    normalized: usize,
    dtype: DType,
) -> (&'a [usize], usize, usize) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::reduce::tests::random;
    use crate::element::Element;
    use half::f16;

    fn tensor<T: Element>(data: &[T], shape: &[usize]) -> (Storage, Layout) {
        (Storage::from_slice(data), Layout::contiguous(shape))
    }

    /// Softmax (or log-softmax) along `dim` of a tensor read through `layout`, in f64,
    /// element by element in output (row-major) order.
    fn naive_softmax(data: &[f32], layout: &Layout, dim: usize, log: bool) -> Vec<f64> {
        let shape = &layout.shape;
        let n: usize = shape.iter().product();
        let mut out = vec![0.0; n];
        let mut index = vec![0usize; shape.len()];
        // (max, sum of exp) of each line along `dim`, keyed by the line's first element.
        let mut lines = vec![None; n];
        let stride: usize = shape[dim + 1..].iter().product();
        for (flat, slot) in out.iter_mut().enumerate() {
            let mut rem = flat;
            for d in (0..shape.len()).rev() {
                index[d] = rem % shape[d];
                rem /= shape[d];
            }
            let (max, total) = *lines[flat - index[dim] * stride].get_or_insert_with(|| {
                let along: Vec<f64> = (0..shape[dim])
                    .map(|k| {
                        let mut at = index.clone();
                        at[dim] = k;
                        data[layout.index_of(&at)] as f64
                    })
                    .collect();
                let max = along.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (max, along.iter().map(|v| (v - max).exp()).sum::<f64>())
            });
            let v = data[layout.index_of(&index)] as f64;
            *slot = if log { v - max - total.ln() } else { (v - max).exp() / total };
        }
        out
    }

    fn check_softmax(data: &[f32], layout: &Layout, dim: usize) {
        let s = Storage::from_slice(data);
        for log in [false, true] {
            let x = View::new(&s, layout);
            let got = if log { log_softmax(x, dim) } else { softmax(x, dim) }.to_vec::<f32>();
            let expected = naive_softmax(data, layout, dim, log);
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    (*g as f64 - e).abs() <= 1e-6 * e.abs().max(1.0) * if log { 4.0 } else { 1.0 },
                    "log={log} dim {dim} of {:?}, element {i}: got {g}, expected {e}",
                    layout.shape
                );
            }
        }
    }

    #[test]
    fn softmax_hand_worked() {
        // Row [0, ln 3]: exp gives 1 and 3, so softmax is [1/4, 3/4] and log_softmax is
        // [ln(1/4), ln(3/4)]. Row [1000, 1001] would overflow exp unshifted; shifted it is
        // [1, e] / (1 + e).
        let (s, l) = tensor(&[0.0f32, 3.0f32.ln(), 1000.0, 1001.0], &[2, 2]);
        let x = View::new(&s, &l);
        let e = std::f32::consts::E;
        let got = softmax(x, 1).to_vec::<f32>();
        for (g, e) in got.iter().zip([0.25, 0.75, 1.0 / (1.0 + e), e / (1.0 + e)]) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
        let got = log_softmax(x, 1).to_vec::<f32>();
        for (g, e) in got.iter().zip([0.25f32.ln(), 0.75f32.ln(), -(1.0 + e).ln(), 1.0 - (1.0 + e).ln()]) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn masked_entries_are_exactly_zero_and_nan_propagates() {
        // -inf (a masked position) gets probability exactly 0 and log-probability -inf;
        // a NaN anywhere in a row makes the whole row NaN, as in PyTorch.
        let (s, l) = tensor(&[1.0f32, f32::NEG_INFINITY, 1.0, 2.0, f32::NAN, 0.0], &[2, 3]);
        let got = softmax(View::new(&s, &l), 1).to_vec::<f32>();
        assert_eq!(&got[..3], &[0.5, 0.0, 0.5]);
        assert!(got[3..].iter().all(|v| v.is_nan()));
        let got = log_softmax(View::new(&s, &l), 1).to_vec::<f32>();
        assert_eq!(got[1], f32::NEG_INFINITY);
    }

    #[test]
    fn softmax_matches_reference_on_every_path() {
        // Last dim (rows longer than one leaf), a middle dim (column tiles), a transposed
        // view, a stepped slice and a broadcast row.
        let x = random(64 * 1500, 21);
        check_softmax(&x, &Layout::contiguous(&[64, 1500]), 1);
        check_softmax(&x, &Layout::contiguous(&[3, 100, 300]), 1);
        check_softmax(&x, &Layout::contiguous(&[3, 100, 300]), 0);
        check_softmax(&x, &Layout::contiguous(&[300, 320]).transpose(0, 1), 1);
        check_softmax(&x, &Layout::contiguous(&[300, 320]).slice(1, 1, 40, 7), 1);
        check_softmax(&x[..50], &Layout::contiguous(&[50]).expand(&[4, 50]).unwrap(), 1);
        // f64 takes the same paths.
        let wide: Vec<f64> = x[..600].iter().map(|&v| v as f64 * 10.0).collect();
        let (s, l) = tensor(&wide, &[20, 30]);
        let got = softmax(View::new(&s, &l), 1).to_vec::<f64>();
        for (row, out) in wide.chunks(30).zip(got.chunks(30)) {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = row.iter().map(|v| (v - max).exp()).sum();
            for (v, g) in row.iter().zip(out) {
                assert!((g - (v - max).exp() / total).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn half_softmax_keeps_its_dtype() {
        // [0, 0] in f16: each probability is exactly 1/2.
        let (s, l) = tensor(&[f16::ZERO, f16::ZERO], &[2]);
        let out = softmax(View::new(&s, &l), 0);
        assert_eq!(out.dtype(), DType::F16);
        assert_eq!(out.to_vec::<f16>(), vec![f16::from_f32(0.5); 2]);
    }

    /// Layer norm in f64 of contiguous rows: (output, mean, rstd).
    fn naive_layer_norm(
        x: &[f32],
        len: usize,
        w: Option<&[f32]>,
        b: Option<&[f32]>,
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut out, mut means, mut rstds) = (vec![], vec![], vec![]);
        for row in x.chunks(len) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
            let rstd = 1.0 / (var + eps).sqrt();
            for (j, &v) in row.iter().enumerate() {
                let y = (v as f64 - mean) * rstd;
                out.push(y * w.map_or(1.0, |w| w[j] as f64) + b.map_or(0.0, |b| b[j] as f64));
            }
            means.push(mean);
            rstds.push(rstd);
        }
        (out, means, rstds)
    }

    fn close(got: &[f32], expected: &[f64], tolerance: f64, what: &str) {
        assert_eq!(got.len(), expected.len(), "{what}");
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!((*g as f64 - e).abs() <= tolerance * e.abs().max(1.0), "{what}[{i}]: got {g}, expected {e}");
        }
    }

    #[test]
    fn layer_norm_hand_worked() {
        // Row [1, 3]: mean 2, biased variance 1, so with eps 0 rstd is 1 and the normalized
        // row is [-1, 1]; weight [2, 3] and bias [0.5, 0] give [-1.5, 3].
        let (s, l) = tensor(&[1.0f32, 3.0], &[1, 2]);
        let (ws, wl) = tensor(&[2.0f32, 3.0], &[2]);
        let (bs, bl) = tensor(&[0.5f32, 0.0], &[2]);
        let (out, mean, rstd) =
            layer_norm(View::new(&s, &l), 1, Some(View::new(&ws, &wl)), Some(View::new(&bs, &bl)), 0.0);
        assert_eq!(out.to_vec::<f32>(), vec![-1.5, 3.0]);
        assert_eq!(mean.to_vec::<f32>(), vec![2.0]);
        assert_eq!(rstd.to_vec::<f32>(), vec![1.0]);
    }

    #[test]
    fn layer_norm_matches_reference() {
        // Two normalized dims ([6, 300] of a [5, 6, 300] tensor), offset data so the
        // two-pass variance matters, every weight/bias combination, and a transposed input.
        let x: Vec<f32> = random(5 * 1800, 22).iter().map(|v| v * 3.0 + 50.0).collect();
        let w = random(1800, 23);
        let b = random(1800, 24);
        let (s, l) = tensor(&x, &[5, 6, 300]);
        let (ws, wl) = tensor(&w, &[6, 300]);
        let (bs, bl) = tensor(&b, &[6, 300]);
        for (use_w, use_b) in [(true, true), (true, false), (false, true), (false, false)] {
            let weight = use_w.then(|| View::new(&ws, &wl));
            let bias = use_b.then(|| View::new(&bs, &bl));
            let (out, mean, rstd) = layer_norm(View::new(&s, &l), 2, weight, bias, 1e-5);
            let (eo, em, er) = naive_layer_norm(&x, 1800, use_w.then_some(&w[..]), use_b.then_some(&b[..]), 1e-5);
            close(&out.to_vec::<f32>(), &eo, 2e-5, "output");
            close(&mean.to_vec::<f32>(), &em, 1e-6, "mean");
            close(&rstd.to_vec::<f32>(), &er, 1e-5, "rstd");
        }
        // The transpose of a [300, 30] matrix normalized over its 300-long rows.
        let t = Layout::contiguous(&[300, 30]).transpose(0, 1);
        let (out, _, _) = layer_norm(View::new(&s, &t), 1, None, None, 1e-5);
        let rows: Vec<f32> = (0..30).flat_map(|i| (0..300).map(move |j| (i, j))).map(|(i, j)| x[j * 30 + i]).collect();
        close(&out.to_vec::<f32>(), &naive_layer_norm(&rows, 300, None, None, 1e-5).0, 2e-5, "transposed");
    }

    #[test]
    fn rms_norm_hand_worked_and_against_reference() {
        // Row [3, 4]: mean square (9 + 16) / 2 = 12.5, so rstd = 1/sqrt(12.5) and with weight
        // [1, 2] the output is [3, 8] / sqrt(12.5).
        let (s, l) = tensor(&[3.0f64, 4.0], &[2]);
        let (ws, wl) = tensor(&[1.0f64, 2.0], &[2]);
        let (out, rstd) = rms_norm(View::new(&s, &l), 1, Some(View::new(&ws, &wl)), 0.0);
        let r = 1.0 / 12.5f64.sqrt();
        assert_eq!(rstd.to_vec::<f64>(), vec![r]);
        assert_eq!(out.to_vec::<f64>(), vec![3.0 * r, 8.0 * r]);
        let x = random(40 * 1300, 25);
        let (s, l) = tensor(&x, &[40, 1300]);
        let (out, rstd) = rms_norm(View::new(&s, &l), 1, None, 1e-6);
        let mut expected = vec![];
        for (row, &g) in x.chunks(1300).zip(&rstd.to_vec::<f32>()) {
            let r = 1.0 / (row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 1300.0 + 1e-6).sqrt();
            assert!((g as f64 - r).abs() < 1e-5 * r);
            expected.extend(row.iter().map(|&v| v as f64 * r));
        }
        close(&out.to_vec::<f32>(), &expected, 1e-5, "rms output");
    }

    #[test]
    fn norms_do_not_depend_on_the_thread_count() {
        // Rows are independent and each is folded in a fixed order, so bits agree for any
        // pool size (see the same test for reductions on why toggling the pool is safe).
        let x = random(512 * 1024, 26);
        let (s, l) = tensor(&x, &[512, 1024]);
        let run = || {
            let a = softmax(View::new(&s, &l), 1).to_vec::<f32>();
            let b = softmax(View::new(&s, &l), 0).to_vec::<f32>();
            let (c, _, _) = layer_norm(View::new(&s, &l), 1, None, None, 1e-5);
            [a, b, c.to_vec::<f32>()].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
        };
        let before = parallel::num_threads();
        let reference = run();
        parallel::set_num_threads(1);
        let single = run();
        parallel::set_num_threads(before);
        assert!(single == reference);
    }

    #[test]
    #[should_panic(expected = "layer_norm(): weight of shape [3] does not match the normalized shape [4]")]
    fn layer_norm_rejects_a_mismatched_weight() {
        let (s, l) = tensor(&[0.0f32; 8], &[2, 4]);
        let (ws, wl) = tensor(&[1.0f32; 3], &[3]);
        layer_norm(View::new(&s, &l), 1, Some(View::new(&ws, &wl)), None, 1e-5);
    }
}
