use super::*;
use crate::op::{BinaryOp, PadMode, UnaryOp};
use crate::scalar::Scalar;
use crate::shape::Symbol;

fn t(dtype: DType, dims: &[usize]) -> ValueType {
    ValueType::of(dtype, dims)
}

#[test]
fn matmul_error_names_op_and_types() {
    let e = infer(&Op::Matmul, &[&t(DType::F32, &[8, 16]), &t(DType::F32, &[12, 4])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "matmul: cannot multiply f32[8,16] by f32[12,4]: the inner dimensions (16 and 12) must match"
    );
    let ok = infer(&Op::Matmul, &[&t(DType::F16, &[3, 8, 16]), &t(DType::F32, &[16, 4])]).unwrap();
    assert_eq!(ok, t(DType::F32, &[3, 8, 4]));
}

#[test]
fn binary_ops_broadcast_and_promote() {
    let add = Op::Binary(BinaryOp::Add);
    assert_eq!(infer(&add, &[&t(DType::I32, &[4, 1]), &t(DType::F16, &[3])]).unwrap(), t(DType::F16, &[4, 3]));
    let div = Op::Binary(BinaryOp::Div);
    assert_eq!(infer(&div, &[&t(DType::I64, &[2]), &t(DType::I64, &[2])]).unwrap(), t(DType::F32, &[2]));
    let lt = Op::Binary(BinaryOp::Lt);
    assert_eq!(infer(&lt, &[&t(DType::F32, &[2]), &t(DType::F32, &[])]).unwrap(), t(DType::Bool, &[2]));
    let e = infer(&add, &[&t(DType::F32, &[2, 3]), &t(DType::F32, &[4])]).unwrap_err();
    assert!(e.to_string().starts_with("add: shapes [2,3] and [4] cannot be broadcast"), "{e}");
}

#[test]
fn unary_dtypes_follow_the_op() {
    let x = t(DType::I32, &[5]);
    assert_eq!(infer(&Op::Unary(UnaryOp::Exp), &[&x]).unwrap(), t(DType::F32, &[5]));
    assert_eq!(infer(&Op::Unary(UnaryOp::Abs), &[&x]).unwrap(), x);
    assert_eq!(infer(&Op::Unary(UnaryOp::IsNan), &[&x]).unwrap(), t(DType::Bool, &[5]));
}

#[test]
fn reductions_drop_or_keep_axes() {
    let x = t(DType::Bool, &[4, 5, 6]);
    let sum = Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdim: true };
    assert_eq!(infer(&sum, &[&x]).unwrap(), t(DType::I64, &[4, 1, 6]));
    let argmax = Op::Reduce { op: ReduceOp::ArgMax, axes: vec![0, 2], keepdim: false };
    assert_eq!(infer(&argmax, &[&x]).unwrap(), t(DType::I64, &[5]));
    let repeated = Op::Reduce { op: ReduceOp::Max, axes: vec![1, 1], keepdim: false };
    assert!(infer(&repeated, &[&x]).is_err());
    let out_of_range = Op::Var { axes: vec![3], correction: 1, keepdim: false };
    assert_eq!(infer(&out_of_range, &[&x]).unwrap_err().to_string(), "var: dim 3 is out of range for bool[4,5,6]");
}

#[test]
fn arity_is_checked_first() {
    let e = infer(&Op::Matmul, &[&t(DType::F32, &[2, 2])]).unwrap_err();
    assert_eq!(e.to_string(), "matmul: expected 2 inputs, got 1");
    let e = infer(&Op::LayerNorm { axes: 1, eps: Scalar::Float(1e-5) }, &[]).unwrap_err();
    assert_eq!(e.to_string(), "layer_norm: expected 1 to 3 inputs, got 0");
}

#[test]
fn movement_ops() {
    let x = t(DType::F32, &[2, 3, 4]);
    let permute = Op::Permute { perm: vec![2, 0, 1] };
    assert_eq!(infer(&permute, &[&x]).unwrap(), t(DType::F32, &[4, 2, 3]));
    let slice = Op::Slice { dim: 2, start: 1, len: 2, step: 2 };
    assert_eq!(infer(&slice, &[&x]).unwrap(), t(DType::F32, &[2, 3, 2]));
    let too_long = Op::Slice { dim: 2, start: 1, len: 3, step: 2 };
    assert!(infer(&too_long, &[&x]).is_err());
    let pad = Op::Pad { pads: vec![(0, 0), (1, 2), (0, 1)], mode: PadMode::Constant, value: Scalar::Float(0.0) };
    assert_eq!(infer(&pad, &[&x]).unwrap(), t(DType::F32, &[2, 6, 5]));
    let reflect = Op::Pad { pads: vec![(0, 0), (3, 0), (0, 0)], mode: PadMode::Reflect, value: Scalar::Float(0.0) };
    assert!(infer(&reflect, &[&x]).is_err());
    let concat = Op::Concat { dim: 1 };
    assert_eq!(infer(&concat, &[&x, &t(DType::F32, &[2, 5, 4])]).unwrap(), t(DType::F32, &[2, 8, 4]));
    let reshape = Op::Reshape { shape: Shape::from_slice(&[Dim::Const(6), Dim::Const(4)]) };
    assert_eq!(infer(&reshape, &[&x]).unwrap(), t(DType::F32, &[6, 4]));
    let expand = Op::Expand { shape: Shape::from_slice(&[Dim::Const(5), Dim::Const(2), Dim::Const(3), Dim::Const(4)]) };
    assert_eq!(infer(&expand, &[&x]).unwrap(), t(DType::F32, &[5, 2, 3, 4]));
}

#[test]
fn symbolic_dims_flow_through() {
    let s = Dim::Sym(Symbol(0));
    let x = ValueType::new(DType::F32, Shape::from_slice(&[s, Dim::Const(8)]));
    let w = t(DType::F32, &[8, 3]);
    let y = infer(&Op::Matmul, &[&x, &w]).unwrap();
    assert_eq!(y.to_string(), "f32[s0,3]");
    let softmax = infer(&Op::Softmax { dim: 1 }, &[&y]).unwrap();
    assert_eq!(softmax, y);
}

#[test]
fn indexing_ops() {
    let x = t(DType::F32, &[10, 4]);
    let index = t(DType::I64, &[3]);
    assert_eq!(infer(&Op::IndexSelect { dim: 0 }, &[&x, &index]).unwrap(), t(DType::F32, &[3, 4]));
    assert!(infer(&Op::IndexSelect { dim: 0 }, &[&x, &t(DType::F32, &[3])]).is_err());
    let tokens = t(DType::I64, &[2, 7]);
    assert_eq!(infer(&Op::Embedding, &[&x, &tokens]).unwrap(), t(DType::F32, &[2, 7, 4]));
    assert_eq!(infer(&Op::OneHot { classes: 5 }, &[&index]).unwrap(), t(DType::I64, &[3, 5]));
    let source = t(DType::F32, &[3, 4]);
    assert_eq!(infer(&Op::IndexAdd { dim: 0 }, &[&x, &index, &source]).unwrap(), x);
}

#[test]
fn convolution_and_pooling() {
    let x = t(DType::F32, &[2, 4, 16, 16]);
    let w = t(DType::F32, &[8, 2, 3, 3]);
    let conv = Op::Conv { dims: 2, stride: vec![2, 2], padding: vec![1, 1], dilation: vec![1, 1], groups: 2 };
    assert_eq!(infer(&conv, &[&x, &w, &t(DType::F32, &[8])]).unwrap(), t(DType::F32, &[2, 8, 8, 8]));
    let window = Window2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };
    let pooled = infer_results(&Op::MaxPool2d(window.clone()), &[&x]).unwrap();
    assert_eq!(pooled, vec![t(DType::F32, &[2, 4, 8, 8]), t(DType::I64, &[2, 4, 8, 8])]);
    let back = Op::AvgPool2dBackward { window, input: [16, 16] };
    assert_eq!(infer(&back, &[&pooled[0]]).unwrap(), x);
    let unfold = Op::Unfold { kernel: vec![3, 3], stride: vec![1, 1], padding: vec![1, 1], dilation: vec![1, 1] };
    let columns = infer(&unfold, &[&x]).unwrap();
    assert_eq!(columns, t(DType::F32, &[2, 36, 256]));
    let fold = Op::Fold {
        output: vec![16, 16],
        kernel: vec![3, 3],
        stride: vec![1, 1],
        padding: vec![1, 1],
        dilation: vec![1, 1],
    };
    assert_eq!(infer(&fold, &[&columns]).unwrap(), x);
}

#[test]
fn declared_types_are_checked() {
    let constant = Op::Constant(Scalar::Float(0.5));
    assert!(infer(&constant, &[]).is_err());
    assert!(check(&constant, &[], 0, &t(DType::F16, &[2])).is_ok());
    let seed = t(DType::I64, &[]);
    assert!(check(&Op::RandNormal, &[&seed, &seed], 0, &t(DType::F32, &[3])).is_ok());
    assert!(check(&Op::RandNormal, &[&seed, &seed], 0, &t(DType::I32, &[3])).is_err());
    assert!(check(&Op::Iota { dim: 1 }, &[], 0, &t(DType::I64, &[3])).is_err());
    let x = t(DType::F32, &[4]);
    let mask = t(DType::Bool, &[4]);
    assert!(check(&Op::MaskedSelect, &[&x, &mask], 0, &t(DType::F32, &[2])).is_ok());
    assert!(check(&Op::Matmul, &[&x, &x], 0, &t(DType::F32, &[1])).is_err());
}
