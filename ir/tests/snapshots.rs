//! The text form of representative graphs, built with the builder and reviewed as snapshots.

use ignis_ir::builder::GraphBuilder;
use ignis_ir::graph::{Graph, ValueType};
use ignis_ir::parse::parse;
use ignis_ir::verify::verify;
use ignis_ir::{DType, Dim, Scalar, Shape, Symbol, UnaryOp};

fn f32s(dims: &[usize]) -> ValueType {
    ValueType::of(DType::F32, dims)
}

/// Checks the graph is valid and parses back before its text is snapshotted.
fn text_of(graph: &Graph) -> String {
    assert_eq!(verify(graph), Ok(()));
    let text = graph.to_string();
    assert_eq!(&parse(&text).unwrap(), graph);
    text
}

#[test]
fn mlp() {
    let mut b = GraphBuilder::new("mlp");
    let x = b.named_param("x", f32s(&[256, 1024])).unwrap();
    let w1 = b.named_param("w1", f32s(&[1024, 4096])).unwrap();
    let b1 = b.named_param("b1", f32s(&[4096])).unwrap();
    let w2 = b.named_param("w2", f32s(&[4096, 1024])).unwrap();
    let h = b.matmul(x, w1).unwrap();
    let h = b.add(h, b1).unwrap();
    let h = b.unary(UnaryOp::GeluTanh, h).unwrap();
    let y = b.matmul(h, w2).unwrap();
    b.output(y).unwrap();
    insta::assert_snapshot!(text_of(&b.finish()));
}

#[test]
fn layer_norm_decomposed() {
    let mut b = GraphBuilder::new("layer_norm");
    let x = b.named_param("x", f32s(&[8, 512])).unwrap();
    let gamma = b.named_param("gamma", f32s(&[512])).unwrap();
    let beta = b.named_param("beta", f32s(&[512])).unwrap();
    let mean = b.mean(x, &[-1], true).unwrap();
    let centered = b.sub(x, mean).unwrap();
    let squared = b.mul(centered, centered).unwrap();
    let variance = b.mean(squared, &[-1], true).unwrap();
    let eps = b.constant(Scalar::Float(1e-5), f32s(&[])).unwrap();
    let shifted = b.add(variance, eps).unwrap();
    let inverse = b.unary(UnaryOp::Rsqrt, shifted).unwrap();
    let normalized = b.mul(centered, inverse).unwrap();
    let scaled = b.mul(normalized, gamma).unwrap();
    let y = b.add(scaled, beta).unwrap();
    b.output(y).unwrap();
    insta::assert_snapshot!(text_of(&b.finish()));
}

#[test]
fn softmax_with_symbolic_batch() {
    let mut b = GraphBuilder::new("softmax");
    let batch = Dim::Sym(Symbol(0));
    let x = b.named_param("x", ValueType::new(DType::F32, Shape::from_slice(&[batch, Dim::Const(10)]))).unwrap();
    let max = b.max(x, &[-1], true).unwrap();
    let shifted = b.sub(x, max).unwrap();
    let exp = b.unary(UnaryOp::Exp, shifted).unwrap();
    let total = b.sum(exp, &[-1], true).unwrap();
    let y = b.div(exp, total).unwrap();
    b.output(y).unwrap();
    insta::assert_snapshot!(text_of(&b.finish()));
}

#[test]
fn attention_block() {
    // One head-split self-attention: [batch, seq, model] with 4 heads of 16.
    let (batch, seq, heads, head_dim) = (2, 32, 4, 16);
    let model = heads * head_dim;
    let mut b = GraphBuilder::new("attention");
    let x = b.named_param("x", f32s(&[batch, seq, model])).unwrap();
    let wq = b.named_param("wq", f32s(&[model, model])).unwrap();
    let wk = b.named_param("wk", f32s(&[model, model])).unwrap();
    let wv = b.named_param("wv", f32s(&[model, model])).unwrap();
    let wo = b.named_param("wo", f32s(&[model, model])).unwrap();
    let split = |b: &mut GraphBuilder, w| {
        let projected = b.matmul(x, w).unwrap();
        let heads_last = b.reshape(projected, &[batch, seq, heads, head_dim]).unwrap();
        b.permute(heads_last, &[0, 2, 1, 3]).unwrap()
    };
    let q = split(&mut b, wq);
    let k = split(&mut b, wk);
    let v = split(&mut b, wv);
    let k_t = b.transpose(k, -2, -1).unwrap();
    let scores = b.matmul(q, k_t).unwrap();
    let scale = b.constant(Scalar::Float(0.25), f32s(&[])).unwrap();
    let scaled = b.mul(scores, scale).unwrap();
    let weights = b.softmax(scaled, -1).unwrap();
    let mixed = b.matmul(weights, v).unwrap();
    let merged = b.permute(mixed, &[0, 2, 1, 3]).unwrap();
    let flat = b.reshape(merged, &[batch, seq, model]).unwrap();
    let y = b.matmul(flat, wo).unwrap();
    b.output(y).unwrap();
    insta::assert_snapshot!(text_of(&b.finish()));
}
