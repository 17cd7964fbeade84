//! The MLIR written for representative kernels, and how their points map to threads.

use super::{Mapping, Target, write_mlir};
use ignis_ir::kernel::{Access, Combine, Expr, Index, Kernel, Stage, StageKind, Store};
use ignis_ir::{BinaryOp, DType, Scalar, UnaryOp};

/// `y[r, c] = relu(x[r, c] + bias[c])` over `[rows, cols]`.
pub(crate) fn bias_relu(rows: usize, cols: usize) -> Kernel {
    let mut k = Kernel::new("bias_relu", vec![rows, cols]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let bias = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let at = Index { offset: 0, outer: vec![cols as i64, 1], inner: vec![] };
    let a = k.push(Expr::Load { buffer: x, index: at.clone() });
    let b = k.push(Expr::Load { buffer: bias, index: Index { offset: 0, outer: vec![0, 1], inner: vec![] } });
    let sum = k.push(Expr::Binary(BinaryOp::Add, a, b));
    let relu = k.push(Expr::Unary(UnaryOp::Relu, sum));
    k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![Store { buffer: y, index: at, value: relu }]) });
    k
}

/// A softmax over the rows of `[rows, cols]`: a max, a sum of exponentials, a store.
pub(crate) fn softmax(rows: usize, cols: usize) -> Kernel {
    crate::cpu::tests::softmax_kernel(rows, cols)
}

/// The mean of each column of `[rows, cols]`, stored into `[cols]`.
pub(crate) fn column_mean(rows: usize, cols: usize) -> Kernel {
    let mut k = Kernel::new("column_mean", vec![cols]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let load = k.push(Expr::Load { buffer: x, index: Index { offset: 0, outer: vec![1], inner: vec![cols as i64] } });
    let sum = k.push(Expr::Stage(0));
    let count = k.push(Expr::Count(0));
    let mean = k.push(Expr::Binary(BinaryOp::Div, sum, count));
    k.stages.push(Stage { inner: vec![rows], kind: StageKind::Reduce { combine: Combine::Sum, value: load } });
    let at = Index { offset: 0, outer: vec![1], inner: vec![] };
    k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![Store { buffer: y, index: at, value: mean }]) });
    k
}

/// Half-precision, f64 and bool buffers: `out_f16 = where(mask, x_bf16 * 2, y_f64)` and
/// `out_bool = x_bf16 > 0`, over a transposed view of `x` at an offset.
pub(crate) fn mixed_dtypes(rows: usize, cols: usize) -> Kernel {
    let mut k = Kernel::new("mixed.dtypes", vec![rows, cols]);
    let x = k.add_buffer(DType::BF16, Access::Read);
    let y = k.add_buffer(DType::F64, Access::Read);
    let mask = k.add_buffer(DType::Bool, Access::Read);
    let out = k.add_buffer(DType::F16, Access::Write);
    let positive = k.add_buffer(DType::Bool, Access::Write);
    let at = Index { offset: 0, outer: vec![cols as i64, 1], inner: vec![] };
    let transposed = Index { offset: 3, outer: vec![1, rows as i64], inner: vec![] };
    let xv = k.push(Expr::Load { buffer: x, index: transposed });
    let yv = k.push(Expr::Load { buffer: y, index: at.clone() });
    let m = k.push(Expr::Load { buffer: mask, index: at.clone() });
    let two = k.push(Expr::Const(2.0));
    let doubled = k.push(Expr::Binary(BinaryOp::Mul, xv, two));
    let chosen = k.push(Expr::Select(m, doubled, yv));
    let zero = k.push(Expr::Const(0.0));
    let gt = k.push(Expr::Binary(BinaryOp::Gt, xv, zero));
    k.stages.push(Stage {
        inner: vec![],
        kind: StageKind::Store(vec![
            Store { buffer: out, index: at.clone(), value: chosen },
            Store { buffer: positive, index: at, value: gt },
        ]),
    });
    k
}

/// One output per op the GPU code computes, each applied to `x` (or to `x` and `y`).
pub(crate) fn every_op(points: usize) -> Kernel {
    let mut k = Kernel::new("every_op", vec![points]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Read);
    let at = Index { offset: 0, outer: vec![1], inner: vec![] };
    let xv = k.push(Expr::Load { buffer: x, index: at.clone() });
    let yv = k.push(Expr::Load { buffer: y, index: at.clone() });
    let mut values = Vec::new();
    for op in unary_ops() {
        values.push(k.push(Expr::Unary(op, xv)));
    }
    for op in binary_ops() {
        let v = k.push(Expr::Binary(op, xv, yv));
        values.push(if k.expr_dtype(v) == DType::Bool { k.push(Expr::BoolToFloat(v)) } else { v });
    }
    let nan = k.push(Expr::Unary(UnaryOp::IsNan, xv));
    let not = k.push(Expr::Unary(UnaryOp::LogicalNot, nan));
    let inf = k.push(Expr::Unary(UnaryOp::IsInf, yv));
    for op in [BinaryOp::LogicalAnd, BinaryOp::LogicalOr, BinaryOp::LogicalXor] {
        let v = k.push(Expr::Binary(op, not, inf));
        values.push(k.push(Expr::BoolToFloat(v)));
    }
    let fma = k.push(Expr::Fma(xv, yv, xv));
    values.push(fma);
    let mut stores = Vec::new();
    for value in values {
        let buffer = k.add_buffer(DType::F32, Access::Write);
        stores.push(Store { buffer, index: at.clone(), value });
    }
    k.stages.push(Stage { inner: vec![], kind: StageKind::Store(stores) });
    k
}

/// Every unary op with generated code (the float-valued ones).
pub(crate) fn unary_ops() -> Vec<UnaryOp> {
    use UnaryOp::*;
    let s = |v: f64| Scalar::Float(v);
    vec![
        Neg,
        Abs,
        Sign,
        Recip,
        Square,
        Exp,
        Log,
        Log1p,
        Expm1,
        Sqrt,
        Rsqrt,
        Tanh,
        Erf,
        Sigmoid,
        Relu,
        Gelu,
        GeluTanh,
        Silu,
        Softplus,
        Mish,
        Floor,
        Ceil,
        Round,
        Trunc,
        LeakyRelu { slope: s(0.01) },
        Elu { alpha: s(1.5) },
        Clamp { min: Some(s(-0.5)), max: Some(s(0.75)) },
        NanToNum { nan: s(0.0), posinf: s(100.0), neginf: s(-100.0) },
    ]
}

/// Every float-input binary op with generated code.
pub(crate) fn binary_ops() -> Vec<BinaryOp> {
    use BinaryOp::*;
    vec![Add, Sub, Mul, Div, Minimum, Maximum, Eq, Ne, Lt, Le, Gt, Ge]
}

#[test]
fn an_elementwise_kernel_runs_a_thread_per_point_behind_a_bound_check() {
    let source = write_mlir(&bias_relu(3, 500), &Target::cuda()).unwrap();
    assert_eq!(source.launch.mapping, Mapping::ThreadPerPoint);
    assert_eq!((source.launch.blocks, source.launch.threads), (6, 256));
    insta::assert_snapshot!(source.mlir);
}

#[test]
fn softmax_rows_share_a_block_and_reduce_in_a_tree() {
    let source = write_mlir(&softmax(64, 1000), &Target::cuda()).unwrap();
    assert_eq!(source.launch.mapping, Mapping::BlockPerPoint { threads: 256 });
    assert_eq!(source.launch.blocks, 64);
    // Two trees of eight halving steps, each followed by a barrier, plus one barrier to
    // fill each tree and one after reading its result.
    assert_eq!(source.mlir.matches("gpu.barrier").count(), 2 * (8 + 2));
    insta::assert_snapshot!(source.mlir);
}

#[test]
fn a_column_mean_runs_a_thread_per_column_and_divides_by_the_count() {
    let source = write_mlir(&column_mean(512, 8192), &Target::cuda()).unwrap();
    assert_eq!(source.launch.mapping, Mapping::ThreadPerPoint);
    assert_eq!((source.launch.blocks, source.launch.threads), (32, 256));
    // Every column is covered exactly, so there is no bound check.
    assert!(!source.mlir.contains("scf.if"), "{}", source.mlir);
    assert!(source.mlir.contains("arith.constant 512.0 : f32"), "{}", source.mlir);
    insta::assert_snapshot!(source.mlir);
}

#[test]
fn few_columns_also_share_a_block_and_narrow_rows_use_fewer_threads() {
    // Few outer points: one block each even though the rows are strided.
    let few = write_mlir(&column_mean(512, 64), &Target::cuda()).unwrap();
    assert_eq!(few.launch.mapping, Mapping::BlockPerPoint { threads: 256 });
    let narrow = write_mlir(&softmax(64, 40), &Target::cuda()).unwrap();
    assert_eq!(narrow.launch.mapping, Mapping::BlockPerPoint { threads: 64 });
    // A wavefront is 64 threads on AMD.
    let narrow_amd = write_mlir(&softmax(64, 33), &Target::rocm()).unwrap();
    assert_eq!(narrow_amd.launch.mapping, Mapping::BlockPerPoint { threads: 64 });
    let wide = write_mlir(&softmax(4, 100_000), &Target::cuda()).unwrap();
    assert_eq!(wide.launch.mapping, Mapping::BlockPerPoint { threads: 1024 });
    // Short rows: a thread each, looping over its row.
    let short = write_mlir(&softmax(10_000, 8), &Target::cuda()).unwrap();
    assert_eq!(short.launch.mapping, Mapping::ThreadPerPoint);
    assert!(short.mlir.contains("scf.for"), "{}", short.mlir);
}

#[test]
fn half_f64_and_bool_buffers_convert_at_loads_and_stores() {
    let source = write_mlir(&mixed_dtypes(6, 10), &Target::rocm()).unwrap();
    assert_eq!(source.name, "mixed_dtypes");
    insta::assert_snapshot!(source.mlir);
}

#[test]
fn square_roots_are_the_correctly_rounded_instruction_of_each_target() {
    let mut k = Kernel::new("root", vec![16]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let at = Index { offset: 0, outer: vec![1], inner: vec![] };
    let v = k.push(Expr::Load { buffer: x, index: at.clone() });
    let root = k.push(Expr::Unary(UnaryOp::Sqrt, v));
    k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![Store { buffer: y, index: at, value: root }]) });
    let cuda = write_mlir(&k, &Target::cuda()).unwrap().mlir;
    assert!(cuda.contains("sqrt.rn.f32"), "{cuda}");
    let rocm = write_mlir(&k, &Target::rocm()).unwrap().mlir;
    assert!(rocm.contains("llvm.intr.sqrt"), "{rocm}");
}

#[test]
fn kernels_outside_the_generated_code_are_refused_with_the_reason() {
    let mut k = Kernel::new("ints", vec![4]);
    let x = k.add_buffer(DType::I64, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let at = Index { offset: 0, outer: vec![1], inner: vec![] };
    let v = k.push(Expr::Load { buffer: x, index: at.clone() });
    k.stages
        .push(Stage { inner: vec![], kind: StageKind::Store(vec![Store { buffer: y, index: at.clone(), value: v }]) });
    let e = write_mlir(&k, &Target::cuda()).unwrap_err().to_string();
    assert!(e.contains("kernel ints: buffer b0 is i64"), "{e}");

    let mut k = Kernel::new("sine", vec![4]);
    let x = k.add_buffer(DType::F32, Access::Read);
    let y = k.add_buffer(DType::F32, Access::Write);
    let v = k.push(Expr::Load { buffer: x, index: at.clone() });
    let s = k.push(Expr::Unary(UnaryOp::Sin, v));
    k.stages.push(Stage { inner: vec![], kind: StageKind::Store(vec![Store { buffer: y, index: at, value: s }]) });
    let e = write_mlir(&k, &Target::cuda()).unwrap_err().to_string();
    assert!(e.contains("kernel sine: e1") && e.contains("no generated code"), "{e}");
}

#[test]
fn empty_spaces_launch_nothing_and_empty_reductions_give_the_identity() {
    let empty = write_mlir(&bias_relu(0, 500), &Target::cuda()).unwrap();
    assert!(empty.launch.is_empty());
    let source = write_mlir(&column_mean(0, 8192), &Target::cuda()).unwrap();
    // No loop: the sum is its identity, 0, and the mean 0 / 0.
    assert!(!source.mlir.contains("scf.for"), "{}", source.mlir);
    assert!(source.mlir.contains("arith.divf"), "{}", source.mlir);
}

#[test]
fn every_op_stores_its_own_output_and_calls_nothing() {
    let kernel = every_op(100);
    let outputs = kernel.buffers.iter().filter(|b| b.access == Access::Write).count();
    for target in [Target::cuda(), Target::rocm()] {
        let mlir = write_mlir(&kernel, &target).unwrap().mlir;
        assert_eq!(mlir.matches("memref.store").count(), outputs, "{mlir}");
        assert!(!mlir.contains("math."), "no math dialect (device library calls): {mlir}");
        assert!(!mlir.contains("func.call"), "{mlir}");
        assert!(mlir.contains("arith.maximumf") && mlir.contains("arith.minimumf"), "{mlir}");
        assert!(mlir.contains("llvm.intr.fma") && mlir.contains("llvm.intr.trunc"), "{mlir}");
    }
}
