//! Innermost loops run in blocks through the wide routines, against the same math evaluated
//! in Rust: elementwise results agree bit for bit, whatever the block and tail structure.

use super::compile_kernel;
use super::tests::{bytes, data};
use crate::math::{MathFn, evaluate};
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, DType, UnaryOp};

fn run_rows(kernel: &Kernel, buffers: &mut [&mut [u8]]) -> String {
    let code = compile_kernel(kernel).unwrap_or_else(|e| panic!("{e}"));
    let table: Vec<*mut u8> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    // SAFETY: the buffers are as large as the kernel's indices reach (the tests size them).
    unsafe {
        (code.entry)(table.as_ptr(), code.sizes.as_ptr(), 0, kernel.outer_points() as i64, super::support_table())
    };
    code.clif
}

/// `y = tanh(exp(x * s)) * sigmoid(x) + gelu(x)` per row, `s` a per-row scale: three routines,
/// one of them reading another's result, and an invariant operand.
fn chain_kernel(rows: usize, cols: usize) -> Kernel {
    let mut k = Kernel::new("chain", vec![rows]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let s = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let row = Index { offset: 0, outer: vec![cols as i64], inner: vec![1] };
    let lx = k.push(Expr::Load { buffer: x, index: row.clone() });
    let ls = k.push(Expr::Load { buffer: s, index: Index { offset: 0, outer: vec![1], inner: vec![0] } });
    let scaled = k.push(Expr::Binary(BinaryOp::Mul, lx, ls));
    let exp = k.push(Expr::Unary(UnaryOp::Exp, scaled));
    let tanh = k.push(Expr::Unary(UnaryOp::Tanh, exp));
    let sigmoid = k.push(Expr::Unary(UnaryOp::Sigmoid, lx));
    let gelu = k.push(Expr::Unary(UnaryOp::Gelu, lx));
    let value = k.push(Expr::Fma(tanh, sigmoid, gelu));
    k.stages.push(Stage { inner: vec![cols], kind: StageKind::Store(vec![Store { buffer: y, index: row, value }]) });
    k
}

#[test]
fn chained_routines_match_the_rust_form_bit_for_bit() {
    for cols in [63, 64, 80, 256, 257, 700] {
        let rows = 3;
        let mut x: Vec<f32> = data(rows * cols, cols as u32).iter().map(|v| v * 4.0).collect();
        x[1] = f32::NAN;
        x[2] = f32::INFINITY;
        let mut s = vec![0.5, -1.0, 2.0];
        let mut y = vec![f32::NAN; rows * cols];
        let clif = run_rows(&chain_kernel(rows, cols), &mut [bytes(&mut x), bytes(&mut s), bytes(&mut y)]);
        assert_eq!(clif.contains("call_indirect"), cols >= 64, "routines from 64 columns on:\n{clif}");
        for r in 0..rows {
            for c in 0..cols {
                let v = x[r * cols + c];
                let tanh = evaluate(MathFn::Tanh, evaluate(MathFn::Exp, v * s[r]));
                let want = tanh.mul_add(evaluate(MathFn::Sigmoid, v), evaluate(MathFn::Gelu, v));
                let got = y[r * cols + c];
                let same = got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan());
                assert!(same, "{cols} columns [{r},{c}] x = {v}: {got} vs {want}");
            }
        }
    }
}

/// `out[r] = sum_c silu(x[r, c])` with rows long enough for two blocks, a partial block and
/// a scalar tail: the accumulators carry across blocks.
#[test]
fn reductions_carry_their_accumulators_across_blocks() {
    for cols in [64, 300, 531] {
        let rows = 2;
        let mut k = Kernel::new("silu_sum", vec![rows]);
        let x = k.add_buffer(DType::F32, Access::Read);
        let out = k.add_buffer(DType::F32, Access::Write);
        let load =
            k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![cols as i64], inner: vec![1] } });
        let silu = k.push(Expr::Unary(UnaryOp::Silu, load));
        let total = k.push(Expr::Stage(0));
        k.stages.push(Stage { inner: vec![cols], kind: StageKind::Reduce { combine: Combine::Sum, value: silu } });
        let store = Store { buffer: out, index: Index { offset: 0, outer: vec![1], inner: vec![] }, value: total };
        k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![store]) });
        let mut xv = data(rows * cols, 3);
        let mut ov = vec![f32::NAN; rows];
        let clif = run_rows(&k, &mut [bytes(&mut xv), bytes(&mut ov)]);
        assert!(clif.contains("call_indirect"), "{clif}");
        for r in 0..rows {
            let want: f64 = xv[r * cols..(r + 1) * cols].iter().map(|&v| evaluate(MathFn::Silu, v) as f64).sum();
            let got = ov[r] as f64;
            assert!((got - want).abs() <= 1e-5 * cols as f64, "{cols} columns, row {r}: {got} vs {want}");
        }
    }
}
