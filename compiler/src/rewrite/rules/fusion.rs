//! Canonical forms that let the scheduler fuse: one read where there were two, broadcasts left
//! to the consumer's indexing instead of spelled as nodes, reductions of repeated values
//! replaced by views.
//!
//! A matmul followed by a bias add and an activation stays a matmul and one elementwise
//! chain: the movement rules sink an explicit `expand` of the bias into the add, and
//! `binary-unsqueezed-*` below does the same for a bias reshaped to `[1, n]`. Nothing here
//! splits `a * b + c`, which kernels fuse into a multiply-add. Sums and means of a broadcast
//! value are left alone: `n * x` rounds differently from adding `x` up `n` times.

use super::{RhsBuilder, Rule, attribute_of, computed, dtype_of, rule, type_of, var};
use crate::rewrite::analysis::EGraph;
use crate::rewrite::attribute::Attribute;
use crate::rewrite::language::TensorLang;
use egg::{PatternAst, Subst};
use ignis_ir::{DType, Dim, ReduceOp, Shape, shape};

pub fn rules() -> Vec<Rule> {
    let x = var("?x");
    vec![
        // x * x => square(x): one read of x instead of two
        rule("mul-self-square", "(binary mul ?x ?x)", "(unary square ?x)", move |e, s| {
            dtype_of(e, s, x).is_some_and(|d| d != DType::Bool)
        }),
        // op(reshape(x), y) => op(x, y) when the reshape only puts 1s in front: broadcasting
        // adds them anyway (a bias `[n]` seen as `[1, n]`)
        rule("binary-unsqueezed-left", "(binary ?op (reshape ?x ?shape) ?y)", "(binary ?op ?x ?y)", |e, s| {
            only_leading_ones(e, s)
        }),
        // op(y, reshape(x)) => op(y, x) likewise
        rule("binary-unsqueezed-right", "(binary ?op ?y (reshape ?x ?shape))", "(binary ?op ?y ?x)", |e, s| {
            only_leading_ones(e, s)
        }),
        // max/min/any/all over broadcast dims of expand(x) => a view of x: every group holds
        // copies of one value
        computed("reduce-of-broadcast", "(reduce ?op (expand ?x ?shape) ?axes)", |e, _, s| reduction_of_copies(e, s)),
    ]
}

/// Whether `?shape` is `?x`'s shape with 1s in front.
fn only_leading_ones(egraph: &EGraph, subst: &Subst) -> bool {
    let (Some(Attribute::Shape(target)), Some(x)) =
        (attribute_of(egraph, subst, var("?shape")), type_of(egraph, subst, var("?x")))
    else {
        return false;
    };
    let Some(lead) = target.len().checked_sub(x.rank()) else { return false };
    target[..lead].iter().all(|d| *d == Dim::Const(1)) && target[lead..] == x.shape[..]
}

/// `expand(reshape(x, kept), result)` for a max, min, any or all over dims that the expand
/// broadcast (dims where x, aligned to the expanded rank, is 1) and that are not empty.
fn reduction_of_copies(egraph: &EGraph, subst: &Subst) -> Option<PatternAst<TensorLang>> {
    use ReduceOp::*;
    let Some(Attribute::Reduce(Max | Min | Any | All)) = attribute_of(egraph, subst, var("?op")) else {
        return None;
    };
    let Some(Attribute::Axes { axes, keepdim }) = attribute_of(egraph, subst, var("?axes")) else { return None };
    let Some(Attribute::Shape(expanded)) = attribute_of(egraph, subst, var("?shape")) else { return None };
    let x = type_of(egraph, subst, var("?x"))?;
    let lead = expanded.len().checked_sub(x.rank())?;
    let mut aligned: Shape = std::iter::repeat_n(Dim::Const(1), lead).collect();
    aligned.extend(x.shape.iter().copied());
    let broadcast_and_nonempty =
        |a: usize| aligned.get(a) == Some(&Dim::Const(1)) && matches!(expanded.get(a), Some(Dim::Const(n)) if *n > 0);
    if axes.is_empty() || !axes.iter().all(|&a| broadcast_and_nonempty(a)) {
        return None;
    }
    let kept = shape::reduce(&aligned, axes, *keepdim);
    let result = shape::reduce(expanded, axes, *keepdim);
    let mut rhs = RhsBuilder::default();
    let x = rhs.var(var("?x"));
    let kept = rhs.attribute(Attribute::Shape(kept));
    let view = rhs.node(TensorLang::Reshape([x, kept]));
    let result = rhs.attribute(Attribute::Shape(result));
    rhs.node(TensorLang::Expand([view, result]));
    Some(rhs.finish())
}
