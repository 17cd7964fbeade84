//! Kernels vectorized across outer points (reductions over a leading axis and the like)
//! against plain Rust, over ranges that start and end inside groups and rows.

use super::compile_kernel;
use super::tests::{bytes, data, run_in_ranges};
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, DType, UnaryOp};

/// Runs the kernel's outer points in ranges cut at `cuts` (as the thread pool would); the
/// code must use vectors when a row of the last outer dim holds a group of four.
fn run_split(kernel: &Kernel, buffers: &mut [&mut [u8]], cuts: &[usize]) {
    let code = compile_kernel(kernel).unwrap_or_else(|e| panic!("{e}"));
    // One outer dim always groups (its extent is not part of the code); more need a last
    // dim of at least one group.
    let grouped = match kernel.outer.as_slice() {
        [] => false,
        [_] => true,
        [.., last] => *last >= 4,
    };
    assert_eq!(code.clif.contains("f32x4"), grouped, "{}:\n{}", kernel.name, code.clif);
    run_in_ranges(&code, buffers, kernel.outer_points(), cuts);
}

/// `out[j] = sum_i x[i, j]`: the column sum of a bias gradient.
#[test]
fn column_sums_match_for_every_width_and_split() {
    for (rows, cols) in [(1, 4), (5, 3), (5, 13), (33, 16), (7, 37), (9, 64), (3, 70)] {
        let mut k = Kernel::new("column_sum", vec![cols]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let out = k.add_buffer(DType::F32, Access::Write);
        let load =
            k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![1], inner: vec![cols as i64] } });
        let sum = k.push(Expr::Stage(0));
        k.stages.push(Stage { inner: vec![rows], kind: StageKind::Reduce { combine: Combine::Sum, value: load } });
        let store = Store { buffer: out, index: Index { offset: 0, outer: vec![1], inner: vec![] }, value: sum };
        k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![store]) });
        for cuts in [vec![], vec![3], vec![5, 22, 23]] {
            let mut xv = data(rows * cols, (rows * cols) as u32);
            let mut ov = vec![f32::NAN; cols];
            run_split(&k, &mut [bytes(&mut xv), bytes(&mut ov)], &cuts);
            for j in 0..cols {
                // Vector lanes sum a column in order; scalar code keeps four partial sums.
                let want: f64 = (0..rows).map(|i| xv[i * cols + j] as f64).sum();
                let got = ov[j] as f64;
                assert!((got - want).abs() <= 1e-5, "{rows}x{cols} column {j}, cuts {cuts:?}: {got} vs {want}");
            }
        }
    }
}

/// Softmax over the leading axis of `x[b, i, j]` scaled by a per-batch factor: two
/// reductions read by a store stage with an inner loop, a stride-0 load along the lanes,
/// exp on vectors, two outer dims.
#[test]
fn softmax_over_a_leading_axis_matches_in_a_two_dim_outer_space() {
    let (batch, rows, cols) = (3, 6, 21);
    let mut k = Kernel::new("column_softmax", vec![batch, cols]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let scale = k.add_buffer(DType::F32, Access::Read);
    let out = k.add_buffer(DType::F32, Access::Write);
    let at = Index { offset: 0, outer: vec![(rows * cols) as i64, 1], inner: vec![cols as i64] };
    let load = k.push(Expr::Load { buffer: x, index: at.clone() });
    let s = k.push(Expr::Load { buffer: scale, index: Index { offset: 0, outer: vec![1, 0], inner: vec![0] } });
    let scaled = k.push(Expr::Binary(BinaryOp::Mul, load, s));
    let max = k.push(Expr::Stage(0));
    let shifted = k.push(Expr::Binary(BinaryOp::Sub, scaled, max));
    let exp = k.push(Expr::Unary(UnaryOp::Exp, shifted));
    let total = k.push(Expr::Stage(1));
    let y = k.push(Expr::Binary(BinaryOp::Div, exp, total));
    k.stages.push(Stage { inner: vec![rows], kind: StageKind::Reduce { combine: Combine::Max, value: scaled } });
    k.stages.push(Stage { inner: vec![rows], kind: StageKind::Reduce { combine: Combine::Sum, value: exp } });
    k.stages
        .push(Stage { inner: vec![rows], kind: StageKind::Store(vec![Store { buffer: out, index: at, value: y }]) });
    for cuts in [vec![], vec![10, 30, 31, 50]] {
        let mut xv = data(batch * rows * cols, 11);
        let mut sv = vec![0.5, 2.0, -1.5];
        let mut ov = vec![f32::NAN; batch * rows * cols];
        run_split(&k, &mut [bytes(&mut xv), bytes(&mut sv), bytes(&mut ov)], &cuts);
        for b in 0..batch {
            for j in 0..cols {
                let column: Vec<f32> = (0..rows).map(|i| xv[(b * rows + i) * cols + j] * sv[b]).collect();
                let m = column.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                let total: f32 = column.iter().map(|v| (v - m).exp()).sum();
                for (i, v) in column.iter().enumerate() {
                    let want = (v - m).exp() / total;
                    let got = ov[(b * rows + i) * cols + j];
                    assert!((got - want).abs() <= 1e-6, "[{b},{i},{j}] cuts {cuts:?}: {got} vs {want}");
                }
            }
        }
    }
}
