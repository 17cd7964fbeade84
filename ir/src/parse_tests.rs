use super::*;
use crate::builder::GraphBuilder;
use crate::op::{BinaryOp, Op, PadMode, ReduceOp, UnaryOp, Window2d};
use crate::shape::Symbol;
use crate::text::node_line;

fn t(dtype: DType, dims: &[usize]) -> ValueType {
    ValueType::of(dtype, dims)
}

/// One graph holding a single node of `op` over parameters of the given types.
fn single(op: Op, inputs: &[ValueType], result: usize, declared: Option<ValueType>) -> Graph {
    let mut b = GraphBuilder::new("case");
    let params: Vec<Value> =
        inputs.iter().enumerate().map(|(i, ty)| b.named_param(&format!("p{i}"), ty.clone()).unwrap()).collect();
    let value = match declared {
        Some(ty) => b.push_typed(op, &params, ty),
        None => b.push_result(op, &params, result),
    }
    .unwrap_or_else(|e| panic!("building the case failed: {e}"));
    b.output(value).unwrap();
    b.finish()
}

fn window() -> Window2d {
    Window2d { kernel: [2, 2], stride: [2, 1], padding: [1, 0], dilation: [1, 2] }
}

/// A position per variant; a new variant fails to compile here until a case covers it.
fn variant(op: &Op) -> usize {
    match op {
        Op::Constant(_) => 0,
        Op::Iota { .. } => 1,
        Op::RandUniform => 2,
        Op::RandNormal => 3,
        Op::Unary(_) => 4,
        Op::Binary(_) => 5,
        Op::Where => 6,
        Op::Cast(_) => 7,
        Op::Reduce { .. } => 8,
        Op::Var { .. } => 9,
        Op::LogSumExp { .. } => 10,
        Op::CumSum { .. } => 11,
        Op::Reshape { .. } => 12,
        Op::Permute { .. } => 13,
        Op::Expand { .. } => 14,
        Op::Slice { .. } => 15,
        Op::Pad { .. } => 16,
        Op::Concat { .. } => 17,
        Op::Flip { .. } => 18,
        Op::Roll { .. } => 19,
        Op::Matmul => 20,
        Op::IndexSelect { .. } => 21,
        Op::Gather { .. } => 22,
        Op::Scatter { .. } => 23,
        Op::ScatterAdd { .. } => 24,
        Op::MaskedSelect => 25,
        Op::OneHot { .. } => 26,
        Op::Embedding => 27,
        Op::Softmax { .. } => 28,
        Op::LogSoftmax { .. } => 29,
        Op::LayerNorm { .. } => 30,
        Op::RmsNorm { .. } => 31,
        Op::Conv { .. } => 32,
        Op::Unfold { .. } => 33,
        Op::Fold { .. } => 34,
        Op::MaxPool2d(_) => 35,
        Op::MaxPool2dBackward { .. } => 36,
        Op::AvgPool2d(_) => 37,
        Op::AvgPool2dBackward { .. } => 38,
        Op::AdaptiveAvgPool2d { .. } => 39,
        Op::AdaptiveAvgPool2dBackward { .. } => 40,
        Op::UpsampleNearest2d { .. } => 41,
        Op::UpsampleNearest2dBackward { .. } => 42,
        Op::IndexAdd { .. } => 43,
    }
}
const VARIANTS: usize = 44;

/// Every op, each with inputs it accepts: (op, input types, result, declared type).
fn every_op() -> Vec<(Op, Vec<ValueType>, usize, Option<ValueType>)> {
    let f = |dims: &[usize]| t(DType::F32, dims);
    let i64s = |dims: &[usize]| t(DType::I64, dims);
    let x = f(&[2, 3, 4]);
    let image = f(&[1, 2, 6, 6]);
    let seed = i64s(&[]);
    let symbolic = ValueType::new(DType::F32, Shape::from_slice(&[Dim::Sym(Symbol(0)), Dim::Const(4)]));
    let mut cases = vec![
        (Op::Constant(Scalar::Float(0.5)), vec![], 0, Some(f(&[]))),
        (Op::Constant(Scalar::Int(-3)), vec![], 0, Some(i64s(&[2]))),
        (Op::Constant(Scalar::Bool(true)), vec![], 0, Some(t(DType::Bool, &[2]))),
        (Op::Constant(Scalar::Float(f64::NEG_INFINITY)), vec![], 0, Some(f(&[2]))),
        (Op::Iota { dim: 1 }, vec![], 0, Some(i64s(&[3, 5]))),
        (Op::RandUniform, vec![seed.clone(), seed.clone()], 0, Some(f(&[4]))),
        (Op::RandNormal, vec![seed.clone(), seed], 0, Some(t(DType::BF16, &[4]))),
        (Op::Binary(BinaryOp::Add), vec![x.clone(), f(&[4])], 0, None),
        (Op::Where, vec![t(DType::Bool, &[2, 3, 4]), x.clone(), f(&[])], 0, None),
        (Op::Cast(DType::F16), vec![x.clone()], 0, None),
        (Op::Reduce { op: ReduceOp::ArgMax, axes: vec![0, 2], keepdim: true }, vec![x.clone()], 0, None),
        (Op::Var { axes: vec![1], correction: 1, keepdim: false }, vec![x.clone()], 0, None),
        (Op::LogSumExp { axes: vec![], keepdim: false }, vec![x.clone()], 0, None),
        (Op::CumSum { dim: 2 }, vec![x.clone()], 0, None),
        (
            Op::Reshape { shape: Shape::from_slice(&[Dim::Const(2), Dim::Const(2), Dim::Sym(Symbol(0))]) },
            vec![symbolic.clone()],
            0,
            None,
        ),
        (Op::Permute { perm: vec![2, 0, 1] }, vec![x.clone()], 0, None),
        (
            Op::Expand { shape: Shape::from_slice(&[Dim::Const(5), Dim::Sym(Symbol(0)), Dim::Const(4)]) },
            vec![symbolic],
            0,
            None,
        ),
        (Op::Slice { dim: 2, start: 1, len: 2, step: 2 }, vec![x.clone()], 0, None),
        (
            Op::Pad { pads: vec![(0, 0), (1, 2), (2, 1)], mode: PadMode::Reflect, value: Scalar::Float(0.0) },
            vec![x.clone()],
            0,
            None,
        ),
        (Op::Concat { dim: 1 }, vec![x.clone(), f(&[2, 1, 4]), f(&[2, 5, 4])], 0, None),
        (Op::Flip { dims: vec![0, 2] }, vec![x.clone()], 0, None),
        (Op::Roll { shifts: vec![-1, 2], dims: vec![0, 2] }, vec![x.clone()], 0, None),
        (Op::Matmul, vec![x.clone(), f(&[4, 7])], 0, None),
        (Op::IndexSelect { dim: 1 }, vec![x.clone(), i64s(&[5])], 0, None),
        (Op::Gather { dim: 2 }, vec![x.clone(), i64s(&[2, 3, 1])], 0, None),
        (Op::Scatter { dim: 0 }, vec![x.clone(), i64s(&[1, 3, 4]), f(&[1, 3, 4])], 0, None),
        (Op::ScatterAdd { dim: 0 }, vec![x.clone(), i64s(&[1, 3, 4]), f(&[1, 3, 4])], 0, None),
        (Op::MaskedSelect, vec![x.clone(), t(DType::Bool, &[4])], 0, Some(f(&[7]))),
        (Op::OneHot { classes: 10 }, vec![i64s(&[6])], 0, None),
        (Op::Embedding, vec![f(&[100, 16]), i64s(&[2, 5])], 0, None),
        (Op::Softmax { dim: 2 }, vec![x.clone()], 0, None),
        (Op::LogSoftmax { dim: 0 }, vec![x.clone()], 0, None),
        (Op::LayerNorm { axes: 1, eps: Scalar::Float(1e-5) }, vec![x.clone(), f(&[4]), f(&[4])], 0, None),
        (Op::RmsNorm { axes: 2, eps: Scalar::Float(1e-6) }, vec![x.clone(), f(&[3, 4])], 0, None),
        (
            Op::Conv { dims: 2, stride: vec![1, 2], padding: vec![1, 0], dilation: vec![1, 1], groups: 2 },
            vec![image.clone(), f(&[4, 1, 3, 3]), f(&[4])],
            0,
            None,
        ),
        (
            Op::Unfold { kernel: vec![3, 3], stride: vec![1, 1], padding: vec![0, 0], dilation: vec![1, 1] },
            vec![image.clone()],
            0,
            None,
        ),
        (
            Op::Fold {
                output: vec![6, 6],
                kernel: vec![3, 3],
                stride: vec![1, 1],
                padding: vec![0, 0],
                dilation: vec![1, 1],
            },
            vec![f(&[1, 18, 16])],
            0,
            None,
        ),
        (Op::MaxPool2d(window()), vec![image.clone()], 0, None),
        (Op::MaxPool2d(window()), vec![image.clone()], 1, None),
        (Op::MaxPool2dBackward { input: [6, 6] }, vec![f(&[1, 2, 3, 3]), i64s(&[1, 2, 3, 3])], 0, None),
        (Op::AvgPool2d(window()), vec![image.clone()], 0, None),
        (Op::AvgPool2dBackward { window: window(), input: [6, 6] }, vec![f(&[1, 2, 4, 4])], 0, None),
        (Op::AdaptiveAvgPool2d { output: [1, 1] }, vec![image.clone()], 0, None),
        (Op::AdaptiveAvgPool2dBackward { input: [6, 6] }, vec![f(&[1, 2, 1, 1])], 0, None),
        (Op::UpsampleNearest2d { output: [12, 12] }, vec![image], 0, None),
        (Op::UpsampleNearest2dBackward { input: [6, 6] }, vec![f(&[1, 2, 12, 12])], 0, None),
        (Op::IndexAdd { dim: 1 }, vec![x.clone(), i64s(&[2]), f(&[2, 2, 4])], 0, None),
    ];
    for u in UnaryOp::ALL {
        let u = match u {
            UnaryOp::LeakyRelu { .. } => UnaryOp::LeakyRelu { slope: Scalar::Float(0.01) },
            UnaryOp::Elu { .. } => UnaryOp::Elu { alpha: Scalar::Float(1.0) },
            UnaryOp::NanToNum { .. } => UnaryOp::NanToNum {
                nan: Scalar::Float(0.0),
                posinf: Scalar::Float(f64::INFINITY),
                neginf: Scalar::Float(-1e30),
            },
            other => other,
        };
        cases.push((Op::Unary(u), vec![x.clone()], 0, None));
    }
    for (min, max) in
        [(Some(Scalar::Float(-1.0)), None), (None, Some(Scalar::Int(6))), (Some(Scalar::Int(0)), Some(Scalar::Int(1)))]
    {
        cases.push((Op::Unary(UnaryOp::Clamp { min, max }), vec![x.clone()], 0, None));
    }
    for b in BinaryOp::ALL {
        let dtype = if b.is_logical() { DType::Bool } else { DType::F32 };
        cases.push((Op::Binary(b), vec![t(dtype, &[3]), t(dtype, &[2, 1])], 0, None));
    }
    for r in ReduceOp::ALL {
        cases.push((Op::Reduce { op: r, axes: vec![1], keepdim: false }, vec![x.clone()], 0, None));
    }
    cases
}

#[test]
fn every_op_round_trips_through_text() {
    let cases = every_op();
    let mut seen = [false; VARIANTS];
    for (op, inputs, result, declared) in cases {
        seen[variant(&op)] = true;
        let graph = single(op, &inputs, result, declared);
        let text = graph.to_string();
        let parsed = parse(&text).unwrap_or_else(|e| panic!("{e}\nin\n{text}"));
        assert_eq!(parsed, graph, "{text}");
        assert_eq!(parsed.to_string(), text);
    }
    let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !seen[i]).collect();
    assert!(missing.is_empty(), "variants without a case: {missing:?}");
}

/// The line a single-node graph prints for `op`.
fn line_of(op: Op, inputs: &[ValueType], result: usize, declared: Option<ValueType>) -> String {
    let graph = single(op, inputs, result, declared);
    node_line(&graph, crate::graph::NodeId::new(0))
}

#[test]
fn attribute_syntax() {
    let x = t(DType::F32, &[4, 8]);
    let cases = [
        (
            line_of(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdim: true }, &[x.clone()], 0, None),
            "%0 = sum %p0, axes=[1], keepdim=true : f32[4,1]",
        ),
        (
            line_of(Op::Unary(UnaryOp::LeakyRelu { slope: Scalar::Float(0.01) }), &[x.clone()], 0, None),
            "%0 = leaky_relu %p0, slope=0.01 : f32[4,8]",
        ),
        (line_of(Op::Cast(DType::F16), &[x.clone()], 0, None), "%0 = cast %p0, to=f16 : f16[4,8]"),
        (line_of(Op::Constant(Scalar::Float(0.5)), &[], 0, Some(t(DType::F32, &[]))), "%0 = constant 0.5 : f32[]"),
        (
            line_of(Op::Unary(UnaryOp::Clamp { min: None, max: Some(Scalar::Float(6.0)) }), &[x.clone()], 0, None),
            "%0 = clamp %p0, max=6.0 : f32[4,8]",
        ),
        (
            line_of(
                Op::Pad { pads: vec![(0, 0), (1, 2)], mode: PadMode::Constant, value: Scalar::Float(-1.0) },
                &[x.clone()],
                0,
                None,
            ),
            "%0 = pad %p0, pads=[[0,0],[1,2]], mode=constant, value=-1.0 : f32[4,11]",
        ),
        (
            line_of(Op::Roll { shifts: vec![-3], dims: vec![] }, &[x.clone()], 0, None),
            "%0 = roll %p0, shifts=[-3], dims=[] : f32[4,8]",
        ),
        (
            line_of(Op::LayerNorm { axes: 1, eps: Scalar::Float(1e-5) }, &[x.clone()], 0, None),
            "%0 = layer_norm %p0, axes=1, eps=1e-5 : f32[4,8]",
        ),
        (
            line_of(Op::MaxPool2d(window()), &[t(DType::F32, &[1, 2, 6, 6])], 1, None),
            "%0 = max_pool2d#1 %p0, kernel=[2,2], stride=[2,1], padding=[1,0], dilation=[1,2] : i64[1,2,4,4]",
        ),
        (
            line_of(Op::Reshape { shape: Shape::from_slice(&[Dim::Const(32)]) }, &[x], 0, None),
            "%0 = reshape %p0, shape=[32] : f32[32]",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(line, expected);
    }
}

#[test]
fn parses_the_design_example() {
    let text = "graph @mlp(%x: f32[256,1024], %w1: f32[1024,4096]) -> (f32[256,4096]) {
  %0 = matmul %x, %w1            : f32[256,4096]
  %1 = gelu_tanh %0              : f32[256,4096]
  return %1
}";
    let g = parse(text).unwrap();
    assert_eq!(g.name, "mlp");
    assert_eq!(g.params[1].name, "w1");
    assert_eq!(g.nodes[0].op, Op::Matmul);
    assert_eq!(g.nodes[0].inputs, vec![Value::param(0), Value::param(1)]);
    assert_eq!(g.outputs, vec![crate::graph::NodeId::new(1).value()]);
    // The canonical form is the same without the alignment.
    assert!(g.to_string().contains("  %0 = matmul %x, %w1 : f32[256,4096]\n"));
}

#[test]
fn node_numbers_in_text_are_renumbered_in_order() {
    let g = parse(
        "graph @f(%x: f32[2]) -> (f32[2]) {
          %10 = exp %x : f32[2]
          %3 = neg %10 : f32[2]
          return %3
        }",
    )
    .unwrap();
    assert_eq!(g.nodes[1].inputs, vec![crate::graph::NodeId::new(0).value()]);
    assert!(g.to_string().contains("%1 = neg %0 : f32[2]"));
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn errors_point_at_line_and_column() {
    let header = "graph @f(%x: f32[8,16], %w: f32[12,4]) -> (f32[8,4]) {\n";
    assert_eq!(
        error_of(&format!("{header}  %0 = matmul %x, %w : f32[8,4]\n  return %0\n}}")),
        "2:3: %0 = matmul %x, %w : f32[8,4]: matmul: cannot multiply f32[8,16] by f32[12,4]: the inner dimensions (16 and 12) must match"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = exp %y : f32[8,16]\n  return %0\n}}")),
        "2:12: `%y` is not defined before this use"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = frobnicate %x : f32[8,16]\n  return %0\n}}")),
        "2:8: frobnicate: unknown op `frobnicate`"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = sum %x, axes=[1], keepdim=maybe : f32[8]\n  return %0\n}}")),
        "2:26: sum: `keepdim` must be true or false, got `maybe`"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = exp %x, slope=1.0 : f32[8,16]\n  return %0\n}}")),
        "2:16: exp has no attribute `slope`"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = sum %x, keepdim=true : f32[8]\n  return %0\n}}")),
        "2:8: sum: missing attribute `axes`"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = exp %x : f32[8,16\n  return %0\n}}")),
        "3:3: expected `,` or `]`, found `return`"
    );
    assert_eq!(
        error_of(&format!("{header}  %0 = exp %x : f32[8,16]\n  return %0\n}}")),
        "1:44: the signature says f32[8,4], but the returned value is f32[8,16]"
    );
    assert_eq!(error_of("graph @f(%x: f33[2]) -> () {\n  return\n}"), "1:14: unknown dtype `f33`");
    assert_eq!(
        error_of("graph @f(%0: f32[2]) -> () {\n  return\n}"),
        "1:10: `%0` cannot name a parameter: names start with a letter or `_`"
    );
}

#[test]
fn comments_and_empty_graphs_parse() {
    let g = parse("// nothing here\ngraph @empty() -> () {\n  return\n}\n").unwrap();
    assert!(g.nodes.is_empty() && g.outputs.is_empty());
    assert_eq!(g.to_string(), "graph @empty() -> () {\n  return\n}\n");
}
