//! Generated kernels against plain Rust on the same data.

use super::compile_kernel;
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, DType, UnaryOp};

pub(crate) fn run(kernel: &Kernel, buffers: &mut [&mut [u8]]) {
    let code = compile_kernel(kernel).unwrap_or_else(|e| panic!("{e}"));
    let table: Vec<*mut u8> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    // SAFETY: the buffers are as large as the kernel's indices reach (the tests size them).
    unsafe {
        (code.entry)(table.as_ptr(), code.sizes.as_ptr(), 0, kernel.outer_points() as i64, super::support_table())
    };
}

/// Runs `code` over the outer points `[0, points)` in ranges cut at `cuts` (as the thread
/// pool would), on the buffers `buffers`.
pub(super) fn run_in_ranges(code: &super::CompiledKernel, buffers: &mut [&mut [u8]], points: usize, cuts: &[usize]) {
    let table: Vec<*mut u8> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&cut| cut < points).collect();
    bounds.insert(0, 0);
    bounds.push(points);
    for range in bounds.windows(2) {
        // SAFETY: the buffers are as large as the kernel's indices reach (the tests size them).
        unsafe {
            (code.entry)(table.as_ptr(), code.sizes.as_ptr(), range[0] as i64, range[1] as i64, super::support_table())
        };
    }
}

pub(super) fn bytes(v: &mut [f32]) -> &mut [u8] {
    // SAFETY: f32 has no invalid bit patterns and u8 no alignment.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len() * 4) }
}

pub(super) fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 20000) as f32 / 10000.0 - 1.0
        })
        .collect()
}

pub(crate) fn softmax_kernel(rows: usize, cols: usize) -> Kernel {
    let mut k = Kernel::new("softmax", vec![rows]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let row = Index { offset: 0, outer: vec![cols as i64], inner: vec![1] };
    let load = k.push(Expr::Load { buffer: x, index: row.clone() });
    let max = k.push(Expr::Stage(0));
    let shifted = k.push(Expr::Binary(BinaryOp::Sub, load, max));
    let exp = k.push(Expr::Unary(UnaryOp::Exp, shifted));
    let sum = k.push(Expr::Stage(1));
    let out = k.push(Expr::Binary(BinaryOp::Div, exp, sum));
    k.stages.push(Stage { inner: vec![cols], kind: StageKind::Reduce { combine: Combine::Max, value: load } });
    k.stages.push(Stage { inner: vec![cols], kind: StageKind::Reduce { combine: Combine::Sum, value: exp } });
    k.stages
        .push(Stage { inner: vec![cols], kind: StageKind::Store(vec![Store { buffer: y, index: row, value: out }]) });
    k
}

#[test]
fn softmax_rows_match_plain_rust_for_vector_and_tail_widths() {
    for cols in [1, 3, 8, 13, 64, 67, 256, 600] {
        let rows = 5;
        let mut x = data(rows * cols, cols as u32);
        let mut y = vec![0.0f32; rows * cols];
        run(&softmax_kernel(rows, cols), &mut [bytes(&mut x), bytes(&mut y)]);
        for r in 0..rows {
            let row = &x[r * cols..(r + 1) * cols];
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
            for c in 0..cols {
                let want = (row[c] - m).exp() / s;
                let got = y[r * cols + c];
                assert!((got - want).abs() <= 1e-6, "cols {cols} [{r},{c}]: {got} vs {want}");
            }
        }
    }
}

/// `out[i, j] = relu(a[j, i] * b[j] + 1)` over a 2-d outer space with a transposed and a
/// broadcast operand: strided loads, stride-0 loads, fma, selects.
#[test]
fn transposed_and_broadcast_operands_in_a_two_dim_space() {
    let (n, m) = (6, 11);
    let mut k = Kernel::new("elementwise", vec![n]);
    let a = k.add_buffer(DType::F32, Access::Read);
    let bb = k.add_buffer(DType::F32, Access::Read);
    let out = k.add_buffer(DType::F32, Access::Write);
    let la = k.push(Expr::Load { buffer: a, index: Index { offset: 0, outer: vec![1], inner: vec![n as i64] } });
    let lb = k.push(Expr::Load { buffer: bb, index: Index { offset: 0, outer: vec![0], inner: vec![1] } });
    let one = k.push(Expr::Const(1.0));
    let f = k.push(Expr::Fma(la, lb, one));
    let r = k.push(Expr::Unary(UnaryOp::Relu, f));
    let store = Store { buffer: out, index: Index { offset: 0, outer: vec![m as i64], inner: vec![1] }, value: r };
    k.stages.push(Stage { inner: vec![m], kind: StageKind::Store(vec![store]) });
    let mut av = data(n * m, 1);
    let mut bv = data(m, 2);
    let mut ov = vec![0.0f32; n * m];
    run(&k, &mut [bytes(&mut av), bytes(&mut bv), bytes(&mut ov)]);
    for i in 0..n {
        for j in 0..m {
            let want = (av[j * n + i].mul_add(bv[j], 1.0)).max(0.0);
            assert_eq!(ov[i * m + j], want, "[{i},{j}]");
        }
    }
}

#[test]
fn contiguous_store_stage_vectorizes_with_masks_and_bf16_round_trips() {
    let n = 37;
    let mut k = Kernel::new("masked", vec![1]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let h = k.add_buffer(DType::BF16, Access::Write);
    let mask = k.add_buffer(DType::Bool, Access::Write);
    let idx = Index { offset: 0, outer: vec![0], inner: vec![1] };
    let lx = k.push(Expr::Load { buffer: x, index: idx.clone() });
    let zero = k.push(Expr::Const(0.0));
    let gt = k.push(Expr::Binary(BinaryOp::Gt, lx, zero));
    let neg = k.push(Expr::Unary(UnaryOp::Neg, lx));
    let sel = k.push(Expr::Select(gt, lx, neg));
    k.stages.push(Stage {
        inner: vec![n],
        kind: StageKind::Store(vec![Store { buffer: y, index: idx.clone(), value: sel }]),
    });
    k.stages.push(Stage {
        inner: vec![n],
        kind: StageKind::Store(vec![
            Store { buffer: h, index: idx.clone(), value: lx },
            Store { buffer: mask, index: idx, value: gt },
        ]),
    });
    let mut xv = data(n, 3);
    xv[5] = f32::NAN;
    let mut yv = vec![0.0f32; n];
    let mut hv = vec![0u16; n];
    let mut mv = vec![7u8; n];
    // SAFETY: plain integer buffers viewed as bytes.
    let hb = unsafe { std::slice::from_raw_parts_mut(hv.as_mut_ptr() as *mut u8, n * 2) };
    run(&k, &mut [bytes(&mut xv), bytes(&mut yv), hb, &mut mv]);
    for i in 0..n {
        let v = xv[i];
        if i == 5 {
            assert!(yv[i].is_nan() && f32::from_bits((hv[i] as u32) << 16).is_nan());
            assert_eq!(mv[i], 0);
            continue;
        }
        assert_eq!(yv[i], v.abs(), "abs at {i}");
        assert_eq!(mv[i], (v > 0.0) as u8, "mask at {i}");
        let back = f32::from_bits((hv[i] as u32) << 16);
        assert!((back - v).abs() <= v.abs() / 128.0, "bf16 at {i}: {back} vs {v}");
    }
}

/// `y = where(mask, x, -x) * 2` with a contiguous bool mask: the inner loop runs on vectors,
/// the mask loaded four bytes at a time.
#[test]
fn contiguous_bool_masks_load_as_vectors() {
    for n in [5, 16, 37, 64] {
        let mut k = Kernel::new("masked", vec![1]);
        let mask = k.add_buffer(DType::Bool, Access::Read);
        let x = k.add_buffer(DType::F32, Access::Read);
        let y = k.add_buffer(DType::F32, Access::Write);
        let idx = Index { offset: 0, outer: vec![0], inner: vec![1] };
        let lm = k.push(Expr::Load { buffer: mask, index: idx.clone() });
        let lx = k.push(Expr::Load { buffer: x, index: idx.clone() });
        let neg = k.push(Expr::Unary(UnaryOp::Neg, lx));
        let sel = k.push(Expr::Select(lm, lx, neg));
        let two = k.push(Expr::Const(2.0));
        let out = k.push(Expr::Binary(BinaryOp::Mul, sel, two));
        k.stages
            .push(Stage { inner: vec![n], kind: StageKind::Store(vec![Store { buffer: y, index: idx, value: out }]) });
        let code = compile_kernel(&k).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code.clif.contains("uwiden_low"), n >= 16, "n = {n}:\n{}", code.clif);
        let mut mv: Vec<u8> = (0..n).map(|i| [0u8, 1, 1, 0, 0, 1, 0][i % 7]).collect();
        let mut xv = data(n, 9);
        let mut yv = vec![0.0f32; n];
        run(&k, &mut [&mut mv, bytes(&mut xv), bytes(&mut yv)]);
        for i in 0..n {
            let want = if mv[i] != 0 { xv[i] } else { -xv[i] } * 2.0;
            assert_eq!(yv[i], want, "n = {n}, element {i}");
        }
    }
}

/// A copy kernel `out[i] = in[i]` between buffers of the given dtypes.
fn copy_kernel(from: DType, to: DType, n: usize) -> Kernel {
    let mut k = Kernel::new("convert", vec![1]);
    let input = k.add_buffer(from, Access::Read);
    let output = k.add_buffer(to, Access::Write);
    let idx = Index { offset: 0, outer: vec![0], inner: vec![1] };
    let load = k.push(Expr::Load { buffer: input, index: idx.clone() });
    k.stages.push(Stage {
        inner: vec![n],
        kind: StageKind::Store(vec![Store { buffer: output, index: idx, value: load }]),
    });
    k
}

/// Every f16 bit pattern widens to the f32 the `half` crate gives (NaNs to NaNs).
#[test]
fn every_f16_widens_exactly() {
    let n = 1 << 16;
    let mut halves: Vec<u16> = (0..=u16::MAX).collect();
    let mut wide = vec![0.0f32; n];
    // SAFETY: plain integer buffer viewed as bytes.
    let hb = unsafe { std::slice::from_raw_parts_mut(halves.as_mut_ptr() as *mut u8, n * 2) };
    run(&copy_kernel(DType::F16, DType::F32, n), &mut [hb, bytes(&mut wide)]);
    for (bits, got) in (0..=u16::MAX).zip(&wide) {
        let want = half::f16::from_bits(bits).to_f32();
        if want.is_nan() {
            assert!(got.is_nan(), "{bits:#06x}: {got} is not NaN");
        } else {
            assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}: {got} vs {want}");
        }
    }
}

/// f64 values read by a kernel round to the f32 that `as f32` gives: ties to even, values
/// beyond f32's range to infinity, tiny ones to subnormals or zero, NaN to NaN.
#[test]
fn f64_reads_round_to_f32_as_rust_does() {
    let mut values: Vec<f64> = (0..100_000u64).map(|i| f64::from_bits(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
    values.extend([0.0, -0.0, 1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e39, -1e39, 1e-46, 3.5e-45]);
    // 1 + 2^-24 is halfway between two f32s: ties to even, down to 1.0.
    values.extend([1.0 + 2f64.powi(-24), 1.0 + 3.0 * 2f64.powi(-24), f32::MAX as f64 * (1.0 + 2f64.powi(-25))]);
    let n = values.len();
    let mut narrow = vec![0.0f32; n];
    // SAFETY: plain f64 buffer viewed as bytes.
    let vb = unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr() as *mut u8, n * 8) };
    run(&copy_kernel(DType::F64, DType::F32, n), &mut [vb, bytes(&mut narrow)]);
    for (v, got) in values.iter().zip(&narrow) {
        let want = *v as f32;
        if want.is_nan() {
            assert!(got.is_nan(), "{v:e}: {got} is not NaN");
        } else {
            assert_eq!(got.to_bits(), want.to_bits(), "{v:e}: {got:e} vs {want:e}");
        }
    }
}

/// f32 values across the whole range (normal, subnormal and overflowing f16 results, ties,
/// signed zeros, infinities, NaNs) narrow to the bits `half` gives, rounded to nearest even.
#[test]
fn f32_narrows_to_f16_rounded_to_nearest_even() {
    let mut values: Vec<f32> = (0..200_000u32).map(|i| f32::from_bits(i.wrapping_mul(21_475))).collect();
    // Around every f16 step in [2^-26, 2^17]: the value, ties and neighbours of ties.
    for bits in 0..0x7c00u16 {
        let v = half::f16::from_bits(bits).to_f32();
        let next = half::f16::from_bits(bits + 1).to_f32();
        let mid = (v as f64 + next as f64) / 2.0;
        values.extend([
            v,
            mid as f32,
            f32::from_bits((mid as f32).to_bits() + 1),
            f32::from_bits((mid as f32).to_bits() - 1),
        ]);
    }
    values.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 65504.0, 65519.99, 65520.0, f32::MAX]);
    let signed: Vec<f32> = values.iter().map(|v| -v).collect();
    values.extend(signed);
    let n = values.len();
    let mut narrow = vec![0u16; n];
    // SAFETY: plain integer buffer viewed as bytes.
    let nb = unsafe { std::slice::from_raw_parts_mut(narrow.as_mut_ptr() as *mut u8, n * 2) };
    run(&copy_kernel(DType::F32, DType::F16, n), &mut [bytes(&mut values), nb]);
    for (v, got) in values.iter().zip(&narrow) {
        let want = half::f16::from_f32(*v);
        if want.is_nan() {
            assert!(half::f16::from_bits(*got).is_nan(), "{v:e}: {got:#06x} is not NaN");
        } else {
            assert_eq!(*got, want.to_bits(), "{v:e} ({:#010x}): {got:#06x} vs {:#06x}", v.to_bits(), want.to_bits());
        }
    }
}

/// The mean of 165 equal values read with a stride (scalar code): four partial sums keep it
/// within 1.5e-6 of the value, where one running sum strays up to 4.6e-6 (a layer norm of
/// such a row divides that error by sqrt(eps)).
#[test]
fn strided_row_sums_keep_partial_sums_small() {
    let n = 165;
    let mut k = Kernel::new("row_mean", vec![1]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let out = k.add_buffer(DType::F32, Access::Write);
    let load = k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![0], inner: vec![2] } });
    let sum = k.push(Expr::Stage(0));
    let count = k.push(Expr::Const(n as f32));
    let mean = k.push(Expr::Binary(BinaryOp::Div, sum, count));
    k.stages.push(Stage { inner: vec![n], kind: StageKind::Reduce { combine: Combine::Sum, value: load } });
    let store = Store { buffer: out, index: Index { offset: 0, outer: vec![0], inner: vec![] }, value: mean };
    k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![store]) });
    let code = compile_kernel(&k).unwrap_or_else(|e| panic!("{e}"));
    for c in data(2000, 17).iter().map(|v| v * 2.0) {
        let mut xv = vec![c; 2 * n];
        let mut ov = [0.0f32];
        let table = [xv.as_mut_ptr() as *mut u8, ov.as_mut_ptr() as *mut u8];
        // SAFETY: the buffers hold every element the kernel reads and writes.
        unsafe { (code.entry)(table.as_ptr(), code.sizes.as_ptr(), 0, 1, super::support_table()) };
        assert!((ov[0] - c).abs() <= 1.5e-6, "mean of {n} copies of {c}: {}", ov[0]);
    }
}

/// Reductions over several inner loops carry their vector partial results through every
/// level and fold them once: sums of `x * y` (`y` broadcast along the innermost loop) and
/// maxima of `exp(x)` (blocked through the wide routine), with vector bodies and scalar
/// tails in the innermost loop, against f64.
#[test]
fn multi_level_reductions_carry_vector_partials() {
    for (inner, combine) in [(vec![3, 5, 40], Combine::Sum), (vec![7, 32], Combine::Sum), (vec![4, 70], Combine::Max)] {
        let n: usize = inner.iter().product();
        let rows = 2;
        let mut k = Kernel::new("partials", vec![rows]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let y = k.add_buffer(DType::F32, Access::Read);
        let out = k.add_buffer(DType::F32, Access::Write);
        let mut strides: Vec<i64> = inner
            .iter()
            .rev()
            .scan(1i64, |s, &d| {
                let v = *s;
                *s *= d as i64;
                Some(v)
            })
            .collect();
        strides.reverse();
        let y_strides: Vec<i64> = strides
            .iter()
            .enumerate()
            .map(|(i, &s)| if i + 1 == inner.len() { 0 } else { s / *inner.last().unwrap() as i64 })
            .collect();
        let lx = k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![n as i64], inner: strides } });
        let ly = k.push(Expr::Load { buffer: y, index: Index { offset: 0, outer: vec![0], inner: y_strides.clone() } });
        let value = match combine {
            Combine::Sum => k.push(Expr::Binary(BinaryOp::Mul, lx, ly)),
            _ => k.push(Expr::Unary(UnaryOp::Exp, lx)),
        };
        let result = k.push(Expr::Stage(0));
        k.stages.push(Stage { inner: inner.clone(), kind: StageKind::Reduce { combine, value } });
        let store = Store { buffer: out, index: Index { offset: 0, outer: vec![1], inner: vec![] }, value: result };
        k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![store]) });
        let per_y = n / inner.last().unwrap();
        let mut xv = data(rows * n, n as u32);
        let mut yv: Vec<f32> = data(per_y, 7).iter().map(|v| v * 3.0).collect();
        let mut ov = vec![f32::NAN; rows];
        run(&k, &mut [bytes(&mut xv), bytes(&mut yv), bytes(&mut ov)]);
        let last = *inner.last().unwrap();
        for r in 0..rows {
            let terms = (0..n).map(|i| {
                let v = xv[r * n + i] as f64;
                if combine == Combine::Sum { v * yv[i / last] as f64 } else { v.exp() }
            });
            let (want, bound) = match combine {
                Combine::Sum => {
                    let terms: Vec<f64> = terms.collect();
                    (terms.iter().sum::<f64>(), 4.0 * f32::EPSILON as f64 * terms.iter().map(|t| t.abs()).sum::<f64>())
                }
                _ => {
                    let m = terms.fold(f64::NEG_INFINITY, f64::max);
                    (m, 2.0 * f32::EPSILON as f64 * m)
                }
            };
            let got = ov[r] as f64;
            assert!(
                (got - want).abs() <= bound,
                "{combine:?} over {inner:?}, row {r}: {got} vs {want} (bound {bound:e})"
            );
        }
    }
}
