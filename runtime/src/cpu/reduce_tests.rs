//! Tests of `reduce`, `var` and `logsumexp`: hand-worked cases, and every memory shape
//! checked against a naive f64 reference that walks the multi-index.

use super::*;
use crate::parallel;
use ReduceOp::*;
use half::{bf16, f16};

/// Deterministic values in [-1, 1) (xorshift), so failures reproduce.
pub(crate) fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn tensor<T: Element>(data: &[T], shape: &[usize]) -> (Storage, Layout) {
    (Storage::from_slice(data), Layout::contiguous(shape))
}

/// For each output (in row-major order of the kept dims), its reduced elements in
/// row-major order of the reduced dims, read through `layout` one index at a time.
fn groups(data: &[f64], layout: &Layout, axes: &[usize]) -> Vec<Vec<f64>> {
    let shape = &layout.shape;
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let outputs: usize = kept.iter().map(|&d| shape[d]).product();
    let mut out = vec![Vec::new(); outputs];
    let mut index = vec![0usize; shape.len()];
    for _ in 0..layout.numel() {
        let o = kept.iter().fold(0, |acc, &d| acc * shape[d] + index[d]);
        out[o].push(data[layout.index_of(&index)]);
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

fn naive(op: ReduceOp, values: &[f64]) -> f64 {
    let first_extreme = |better: &dyn Fn(f64, f64) -> bool| {
        let mut best = 0;
        for (i, &v) in values.iter().enumerate() {
            if !values[best].is_nan() && (v.is_nan() || better(v, values[best])) {
                best = i;
            }
        }
        best as f64
    };
    match op {
        Sum => values.iter().sum(),
        Mean => values.iter().sum::<f64>() / values.len() as f64,
        Prod => values.iter().product(),
        Max => values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }),
        Min => values
            .iter()
            .copied()
            .fold(f64::INFINITY, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }),
        ArgMax => first_extreme(&|a, b| a > b),
        ArgMin => first_extreme(&|a, b| a < b),
        Any => values.iter().any(|&v| v != 0.0) as u8 as f64,
        All => values.iter().all(|&v| v != 0.0) as u8 as f64,
    }
}

/// Checks `reduce` on f32 data seen through `layout` against the f64 reference: sums to
/// 1e-6 of the sum of magnitudes, everything else exactly.
fn check(op: ReduceOp, data: &[f32], layout: &Layout, axes: &[usize]) {
    let s = Storage::from_slice(data);
    let got = reduce(op, View::new(&s, layout), axes, false);
    let wide: Vec<f64> = data.iter().map(|&v| v as f64).collect();
    let expected: Vec<f64> = groups(&wide, layout, axes).iter().map(|g| naive(op, g)).collect();
    let got: Vec<f64> = match got.dtype() {
        DType::I64 => got.to_vec::<i64>().iter().map(|&v| v as f64).collect(),
        DType::Bool => got.to_vec::<bool>().iter().map(|&v| v as u8 as f64).collect(),
        _ => got.to_vec::<f32>().iter().map(|&v| v as f64).collect(),
    };
    assert_eq!(got.len(), expected.len(), "{} over {axes:?} of {:?}", op.name(), layout.shape);
    let magnitudes: Vec<f64> = groups(&wide, layout, axes).iter().map(|g| g.iter().map(|v| v.abs()).sum()).collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        let tolerance = match op {
            Sum => 1e-6 * magnitudes[i],
            Mean => 1e-6 * magnitudes[i] / layout.numel() as f64 * got.len() as f64,
            // f32 products of many small factors underflow where f64 does not.
            Prod => 1e-4 * e.abs() + 1e-30,
            _ => 0.0,
        };
        assert!(
            (g - e).abs() <= tolerance || (g.is_nan() && e.is_nan()),
            "{} over {axes:?} of {:?}, output {i}: got {g}, expected {e}",
            op.name(),
            layout.shape
        );
    }
}

const ALL_OPS: [ReduceOp; 9] = [Sum, Mean, Prod, Max, Min, ArgMax, ArgMin, Any, All];

fn check_all(data: &[f32], layout: &Layout, axes: &[usize]) {
    for op in ALL_OPS {
        if matches!(op, ArgMax | ArgMin) && axes.len() != 1 {
            continue;
        }
        check(op, data, layout, axes);
    }
}

#[test]
fn hand_worked_small_matrix() {
    // [[1, 5, 2],
    //  [4, 0, 6]]
    let (s, l) = tensor(&[1.0f32, 5.0, 2.0, 4.0, 0.0, 6.0], &[2, 3]);
    let x = View::new(&s, &l);
    // Columns: 1+4, 5+0, 2+6; rows: 1+5+2, 4+0+6; everything: 18.
    assert_eq!(reduce(Sum, x, &[0], false).to_vec::<f32>(), vec![5.0, 5.0, 8.0]);
    assert_eq!(reduce(Sum, x, &[1], true).to_vec::<f32>(), vec![8.0, 10.0]);
    assert_eq!(reduce(Sum, x, &[0, 1], false).to_vec::<f32>(), vec![18.0]);
    // Means 8/3 and 10/3; products 1*5*2 = 10 and 4*0*6 = 0.
    assert_eq!(reduce(Mean, x, &[1], false).to_vec::<f32>(), vec![8.0 / 3.0, 10.0 / 3.0]);
    assert_eq!(reduce(Prod, x, &[1], false).to_vec::<f32>(), vec![10.0, 0.0]);
    // Column maxima 4, 5, 6 come from rows 1, 0, 1; row minima 1 (col 0) and 0 (col 1).
    assert_eq!(reduce(Max, x, &[0], false).to_vec::<f32>(), vec![4.0, 5.0, 6.0]);
    assert_eq!(reduce(ArgMax, x, &[0], false).to_vec::<i64>(), vec![1, 0, 1]);
    assert_eq!(reduce(Min, x, &[1], false).to_vec::<f32>(), vec![1.0, 0.0]);
    assert_eq!(reduce(ArgMin, x, &[1], false).to_vec::<i64>(), vec![0, 1]);
    // Only the 0 at (1, 1) is false: any over rows is all true; all over rows is false
    // for row 1; all over columns is false for column 1.
    assert_eq!(reduce(Any, x, &[1], false).to_vec::<bool>(), vec![true, true]);
    assert_eq!(reduce(All, x, &[1], false).to_vec::<bool>(), vec![true, false]);
    assert_eq!(reduce(All, x, &[0], false).to_vec::<bool>(), vec![true, false, true]);
}

#[test]
fn rows_shape_matches_reference() {
    // Innermost reduced block: row-parallel runs (300 crosses the 32 lanes unevenly).
    let x = random(37 * 300, 1);
    check_all(&x, &Layout::contiguous(&[37, 300]), &[1]);
    let x = random(3 * 5 * 200, 2);
    check_all(&x, &Layout::contiguous(&[3, 5, 200]), &[1, 2]);
}

#[test]
fn columns_shape_matches_reference() {
    // Reduced block outside a kept contiguous axis: 700 rows make 11 leaf groups, 600
    // columns two tiles; the second case has an outer kept dim as well.
    let x = random(700 * 600, 3);
    check_all(&x, &Layout::contiguous(&[700, 600]), &[0]);
    let x = random(4 * 130 * 9, 4);
    check_all(&x, &Layout::contiguous(&[4, 130, 9]), &[1]);
    check_all(&x, &Layout::contiguous(&[4, 130, 9]), &[0, 1]);
}

#[test]
fn long_rows_split_into_blocks_match_reference() {
    // 200_000 > BLOCK: each row is four blocks reduced in parallel and combined in order.
    let x = random(2 * 200_000, 5);
    check_all(&x, &Layout::contiguous(&[2, 200_000]), &[1]);
}

#[test]
fn full_sum_of_a_million_is_accurate() {
    // Positive values so the relative error is meaningful: |got - exact| / exact < 1e-6.
    let x: Vec<f32> = random(1 << 20, 6).iter().map(|v| v + 1.5).collect();
    let (s, l) = tensor(&x, &[1024, 1024]);
    let got = reduce(Sum, View::new(&s, &l), &[0, 1], false).to_vec::<f32>()[0] as f64;
    let exact: f64 = x.iter().map(|&v| v as f64).sum();
    assert!(((got - exact) / exact).abs() < 1e-6, "{got} vs {exact}");
    let mean = reduce(Mean, View::new(&s, &l), &[0, 1], false).to_vec::<f32>()[0] as f64;
    assert!((mean - exact / (1 << 20) as f64).abs() < 1e-6 * 1.5);
}

#[test]
fn general_shape_is_permuted_then_matches_reference() {
    // Kept dim 1 lies between reduced dims 0 and 2.
    let x = random(6 * 7 * 8, 7);
    check_all(&x, &Layout::contiguous(&[6, 7, 8]), &[0, 2]);
}

#[test]
fn non_contiguous_views_match_reference() {
    let x = random(50 * 40, 8);
    // Transposed: [40, 50] with strides [1, 40].
    let t = Layout::contiguous(&[50, 40]).transpose(0, 1);
    check_all(&x, &t, &[0]);
    check_all(&x, &t, &[1]);
    // Every third column from column 2: [50, 13] with strides [40, 3].
    let sliced = Layout::contiguous(&[50, 40]).slice(1, 2, 13, 3);
    check_all(&x, &sliced, &[1]);
    check_all(&x, &sliced, &[0]);
    // A [40] row broadcast to [6, 40] (stride 0 over the new dim).
    let row = Layout::contiguous(&[40]).expand(&[6, 40]).unwrap();
    check_all(&x[..40], &row, &[0]);
    check_all(&x[..40], &row, &[1]);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Whatever the pool size, the pieces and their combination order are fixed, so the bits
    // agree. Other tests running meanwhile only see a different pool size, which by this
    // same property does not change their results.
    let x = random(1 << 20, 9);
    let (s, l) = tensor(&x, &[1024, 1024]);
    let (s2, l2) = tensor(&x, &[4, 1 << 18]);
    let run = || {
        [
            reduce(Sum, View::new(&s, &l), &[0, 1], false).to_vec::<f32>(),
            reduce(Sum, View::new(&s, &l), &[0], false).to_vec::<f32>(),
            reduce(Sum, View::new(&s, &l), &[1], false).to_vec::<f32>(),
            reduce(Mean, View::new(&s2, &l2), &[1], false).to_vec::<f32>(),
            var(View::new(&s, &l), &[0, 1], 1, false).to_vec::<f32>(),
        ]
        .map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
    };
    let before = parallel::num_threads();
    let reference = run();
    for threads in [1, 3] {
        parallel::set_num_threads(threads);
        assert!(run() == reference, "results changed with {threads} threads");
    }
    parallel::set_num_threads(before);
}

#[test]
fn max_and_min_propagate_nan() {
    // A NaN anywhere in a reduced run makes its max and min NaN, in every memory shape.
    let mut x = random(700 * 600, 10);
    x[5 * 600 + 7] = f32::NAN; // row 5, column 7
    let (s, l) = tensor(&x, &[700, 600]);
    let v = View::new(&s, &l);
    for op in [Max, Min] {
        let rows = reduce(op, v, &[1], false).to_vec::<f32>();
        assert!(rows[5].is_nan() && rows.iter().filter(|r| r.is_nan()).count() == 1);
        let cols = reduce(op, v, &[0], false).to_vec::<f32>();
        assert!(cols[7].is_nan() && cols.iter().filter(|c| c.is_nan()).count() == 1);
        assert!(reduce(op, v, &[0, 1], false).to_vec::<f32>()[0].is_nan());
    }
    // argmax treats NaN as the maximum: the first NaN wins over a later one and over +inf.
    let (s, l) = tensor(&[1.0f32, f32::INFINITY, f32::NAN, 3.0, f32::NAN], &[5]);
    assert_eq!(reduce(ArgMax, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![2]);
    assert_eq!(reduce(ArgMin, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![2]);
}

#[test]
fn arg_ties_pick_the_first_occurrence() {
    // [1, 3, 3, 2]: the max 3 first appears at 1; [2, 1, 1]: the min 1 first at 1.
    let (s, l) = tensor(&[1i32, 3, 3, 2], &[4]);
    assert_eq!(reduce(ArgMax, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![1]);
    let (s, l) = tensor(&[2.0f64, 1.0, 1.0], &[3]);
    assert_eq!(reduce(ArgMin, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![1]);
    // Columns of equal rows: every argmax is row 0.
    let (s, l) = tensor(&[1.0f32, 2.0, 1.0, 2.0], &[2, 2]);
    assert_eq!(reduce(ArgMax, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![0, 0]);
    // Equal maxima in different blocks of a long row: the earlier block's wins.
    let mut x = vec![0.0f32; 200_000];
    x[150_000] = 1.0;
    x[70_000] = 1.0;
    let (s, l) = tensor(&x, &[200_000]);
    assert_eq!(reduce(ArgMax, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![70_000]);
    // All equal: index 0.
    let (s, l) = tensor(&vec![5u8; 1000], &[1000]);
    assert_eq!(reduce(ArgMin, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![0]);
}

#[test]
fn empty_reductions() {
    // The sum of nothing is 0, the product 1, the mean 0/0 = NaN; any is false, all true.
    let (s, l) = tensor::<f32>(&[], &[0, 3]);
    let x = View::new(&s, &l);
    assert_eq!(reduce(Sum, x, &[0, 1], false).to_vec::<f32>(), vec![0.0]);
    assert_eq!(reduce(Sum, x, &[0], false).to_vec::<f32>(), vec![0.0; 3]);
    assert_eq!(reduce(Prod, x, &[0], false).to_vec::<f32>(), vec![1.0; 3]);
    assert!(reduce(Mean, x, &[0], false).to_vec::<f32>().iter().all(|m| m.is_nan()));
    assert_eq!(reduce(Any, x, &[0], false).to_vec::<bool>(), vec![false; 3]);
    assert_eq!(reduce(All, x, &[0], false).to_vec::<bool>(), vec![true; 3]);
    // Reducing a non-empty dim of an empty tensor gives an empty result.
    assert_eq!(reduce(Sum, x, &[1], false).len(), 0);
}

#[test]
#[should_panic(expected = "max(): cannot reduce over an empty dimension")]
fn max_of_empty_panics() {
    let (s, l) = tensor::<f32>(&[], &[0]);
    reduce(Max, View::new(&s, &l), &[0], false);
}

#[test]
#[should_panic(expected = "argmin(): cannot reduce over an empty dimension")]
fn argmin_of_empty_panics() {
    let (s, l) = tensor::<i64>(&[], &[2, 0]);
    reduce(ArgMin, View::new(&s, &l), &[1], false);
}

#[test]
fn dtypes_follow_pytorch() {
    // u8 200 + 100 = 300 needs the i64 accumulator; bools count their trues.
    let (s, l) = tensor(&[200u8, 100], &[2]);
    let out = reduce(Sum, View::new(&s, &l), &[0], false);
    assert_eq!((out.dtype(), out.to_vec::<i64>()), (DType::I64, vec![300]));
    let (s, l) = tensor(&[true, false, true], &[3]);
    assert_eq!(reduce(Sum, View::new(&s, &l), &[0], false).to_vec::<i64>(), vec![2]);
    assert_eq!(reduce(Max, View::new(&s, &l), &[0], false).to_vec::<bool>(), vec![true]);
    assert_eq!(reduce(Min, View::new(&s, &l), &[0], false).to_vec::<bool>(), vec![false]);
    // i32: sum widens, max/min keep the dtype; mean computes in f32: (-3 + 7 + 2) / 3 = 2.
    let (s, l) = tensor(&[-3i32, 7, 2], &[3]);
    let x = View::new(&s, &l);
    assert_eq!(reduce(Sum, x, &[0], false).to_vec::<i64>(), vec![6]);
    assert_eq!(reduce(Prod, x, &[0], false).to_vec::<i64>(), vec![-42]);
    assert_eq!(reduce(Max, x, &[0], false).to_vec::<i32>(), vec![7]);
    assert_eq!(reduce(Min, x, &[0], false).to_vec::<i32>(), vec![-3]);
    assert_eq!(reduce(Mean, x, &[0], false).to_vec::<f32>(), vec![2.0]);
    // Half floats keep their dtype; 1000 halves of 0.5 sum to 500 (exact in f16, and the
    // f32 accumulator never rounds); bf16 max is exact.
    let h = vec![f16::from_f32(0.5); 1000];
    let (s, l) = tensor(&h, &[1000]);
    let out = reduce(Sum, View::new(&s, &l), &[0], false);
    assert_eq!((out.dtype(), out.to_vec::<f16>()[0].to_f32()), (DType::F16, 500.0));
    let b: Vec<bf16> = [1.5f32, -2.0, 3.25].iter().map(|&v| bf16::from_f32(v)).collect();
    let (s, l) = tensor(&b, &[3]);
    assert_eq!(reduce(Max, View::new(&s, &l), &[0], false).to_vec::<bf16>()[0].to_f32(), 3.25);
    // any/all on floats: NaN and -0.0? NaN is nonzero (true), -0.0 is zero (false).
    let (s, l) = tensor(&[f32::NAN, -0.0], &[2]);
    let x = View::new(&s, &l);
    assert_eq!(reduce(Any, x, &[0], false).to_vec::<bool>(), vec![true]);
    assert_eq!(reduce(All, x, &[0], false).to_vec::<bool>(), vec![false]);
}

#[test]
fn var_hand_worked_and_against_reference() {
    // [1, 2, 3, 4]: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, so the
    // unbiased variance is 5/3 and the biased one 5/4.
    let (s, l) = tensor(&[1.0f32, 2.0, 3.0, 4.0], &[4]);
    assert_eq!(var(View::new(&s, &l), &[0], 1, false).to_vec::<f32>(), vec![5.0 / 3.0]);
    assert_eq!(var(View::new(&s, &l), &[0], 0, false).to_vec::<f32>(), vec![1.25]);
    // Integers compute in f32.
    let (s, l) = tensor(&[1i64, 2, 3, 4], &[4]);
    assert_eq!(var(View::new(&s, &l), &[0], 0, false).to_vec::<f32>(), vec![1.25]);
    // One element with correction 1: 0 / 0 = NaN, as in PyTorch.
    let (s, l) = tensor(&[3.0f64], &[1]);
    assert!(var(View::new(&s, &l), &[0], 1, false).to_vec::<f64>()[0].is_nan());
    // Columns of a [300, 7] matrix (copied into rows first), offset by 100 so a one-pass
    // formula would lose digits.
    let x: Vec<f32> = random(300 * 7, 11).iter().map(|v| v + 100.0).collect();
    let l = Layout::contiguous(&[300, 7]);
    let s = Storage::from_slice(&x);
    let got = var(View::new(&s, &l), &[0], 1, false).to_vec::<f32>();
    let wide: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (g, column) in got.iter().zip(groups(&wide, &l, &[0])) {
        let mean = column.iter().sum::<f64>() / 300.0;
        let expected = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 299.0;
        assert!((*g as f64 - expected).abs() < 1e-4 * expected, "{g} vs {expected}");
    }
}

#[test]
fn logsumexp_is_stable() {
    // log(e^0 + e^0) = ln 2; shifted by 1000 the naive form overflows, the shifted one
    // gives 1000 + ln 2; a row of -inf gives -inf, a +inf gives +inf.
    let (s, l) =
        tensor(&[0.0f32, 0.0, 1000.0, 1000.0, f32::NEG_INFINITY, f32::NEG_INFINITY, 1.0, f32::INFINITY], &[4, 2]);
    let got = logsumexp(View::new(&s, &l), &[1], false).to_vec::<f32>();
    assert!((got[0] - std::f32::consts::LN_2).abs() < 1e-6);
    assert!((got[1] - (1000.0 + std::f32::consts::LN_2)).abs() < 1e-3);
    assert_eq!(got[2], f32::NEG_INFINITY);
    assert_eq!(got[3], f32::INFINITY);
    // Against the f64 formula on random columns.
    let x = random(64 * 33, 12);
    let l = Layout::contiguous(&[64, 33]);
    let s = Storage::from_slice(&x);
    let got = logsumexp(View::new(&s, &l), &[0], true).to_vec::<f32>();
    let wide: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (g, column) in got.iter().zip(groups(&wide, &l, &[0])) {
        let expected = column.iter().map(|v| v.exp()).sum::<f64>().ln();
        assert!((*g as f64 - expected).abs() < 1e-5, "{g} vs {expected}");
    }
}
