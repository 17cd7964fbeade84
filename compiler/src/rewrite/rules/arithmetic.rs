//! Algebraic identities, exact in IEEE arithmetic (up to the sign of a zero result) and in
//! wrapping integer arithmetic. Constant folding itself lives in the analysis.
//!
//! Deliberately absent, because they are not exact: `x * 0 => 0` and `x - x => 0` (NaN, inf),
//! `sqrt(x) * sqrt(x) => x`, `x / c => x * (1/c)` for a `c` that is not a power of two,
//! reassociating sums or products, and sums or means of repeated values.

use super::{
    RhsBuilder, Rule, always, attribute_of, computed, dtype_of, identity, is_number, rule, splat_of, type_of, var,
};
use crate::rewrite::analysis::EGraph;
use crate::rewrite::attribute::Attribute;
use crate::rewrite::language::{Constant, TensorLang};
use egg::Subst;
use ignis_ir::{BinaryOp, DType, Dim, ReduceOp, Scalar, shape};

pub fn rules() -> Vec<Rule> {
    let (x, c) = (var("?x"), var("?c"));
    let (to, mid) = (var("?to"), var("?mid"));
    let float = move |egraph: &EGraph, subst: &Subst| dtype_of(egraph, subst, x).is_some_and(|d| d.is_float());
    let numeric = move |egraph: &EGraph, subst: &Subst| dtype_of(egraph, subst, x).is_some_and(|d| d != DType::Bool);
    let constant_operand = move |egraph: &EGraph, subst: &Subst| {
        splat_of(egraph, subst, c).is_some() && splat_of(egraph, subst, x).is_none()
    };
    vec![
        // c + x => x + c for a constant c: constants on the right, so each identity needs one form
        rule("add-constant-right", "(binary add ?c ?x)", "(binary add ?x ?c)", constant_operand),
        // c * x => x * c for a constant c
        rule("mul-constant-right", "(binary mul ?c ?x)", "(binary mul ?x ?c)", constant_operand),
        // x + 0 => x (x + 0.0 turns -0.0 into +0.0, the one allowed difference)
        identity("add-zero", "(binary add ?x ?c)", "?x", move |e, s| is_number(e, s, c, 0.0)),
        // x - 0 => x
        identity("sub-zero", "(binary sub ?x ?c)", "?x", move |e, s| is_number(e, s, c, 0.0)),
        // x * 1 => x
        identity("mul-one", "(binary mul ?x ?c)", "?x", move |e, s| is_number(e, s, c, 1.0)),
        // x / 1 => x (the guard keeps an integer x: its division is true division, a float)
        identity("div-one", "(binary div ?x ?c)", "?x", move |e, s| is_number(e, s, c, 1.0)),
        // x * -1 => -x for floats
        rule("mul-minus-one", "(binary mul ?x ?c)", "(unary neg ?x)", move |e, s| {
            float(e, s) && is_number(e, s, c, -1.0)
        }),
        // x / c => x * (1/c) for c a power of two: 1/c is exact, so both round the same quotient
        computed("div-power-of-two", "(binary div ?x ?c)", move |e, _, s| reciprocal_multiply(e, s, x, c)),
        // -(-x) => x
        rule("neg-neg", "(unary neg (unary neg ?x))", "?x", numeric),
        // x + -y => x - y
        rule("add-neg", "(binary add ?x (unary neg ?y))", "(binary sub ?x ?y)", numeric),
        // -x + y => y - x (addition commutes exactly)
        rule("neg-add", "(binary add (unary neg ?x) ?y)", "(binary sub ?y ?x)", numeric),
        // x - -y => x + y
        rule("sub-neg", "(binary sub ?x (unary neg ?y))", "(binary add ?x ?y)", numeric),
        // -(x - y) => y - x (rounding is symmetric; only a zero's sign can differ)
        rule("neg-sub", "(unary neg (binary sub ?x ?y))", "(binary sub ?y ?x)", numeric),
        // -x * -y => x * y
        rule("mul-neg-neg", "(binary mul (unary neg ?x) (unary neg ?y))", "(binary mul ?x ?y)", numeric),
        // abs(-x) => abs(x) for floats (integer abs and neg both wrap, but keep to the clear case)
        rule("abs-neg", "(unary abs (unary neg ?x))", "(unary abs ?x)", float),
        // abs(abs(x)) => abs(x)
        rule("abs-abs", "(unary abs (unary abs ?x))", "(unary abs ?x)", always),
        // relu(relu(x)) => relu(x)
        rule("relu-relu", "(unary relu (unary relu ?x))", "(unary relu ?x)", always),
        // not(not(x)) => x for bools (the guard rejects other dtypes: `not` gives bool)
        rule("not-not", "(unary logical_not (unary logical_not ?x))", "?x", always),
        // cast(x, dtype of x) => x
        rule(
            "cast-same",
            "(cast ?x ?to)",
            "?x",
            move |e, s| matches!(attribute_of(e, s, to), Some(Attribute::DType(d)) if Some(*d) == dtype_of(e, s, x)),
        ),
        // cast(cast(x, a), b) => cast(x, b) when a holds every value of x's dtype exactly
        rule("cast-lossless-chain", "(cast (cast ?x ?mid) ?to)", "(cast ?x ?to)", move |e, s| {
            match (dtype_of(e, s, x), attribute_of(e, s, mid)) {
                (Some(from), Some(Attribute::DType(mid))) => holds_exactly(from, *mid),
                _ => false,
            }
        }),
        // where(c, x, x) => x
        identity("where-same", "(where ?c ?x ?x)", "?x", always),
        // where(true, x, y) => x
        identity("where-true", "(where ?c ?x ?y)", "?x", move |e, s| splat_of(e, s, c) == Some(Scalar::Bool(true))),
        // where(false, x, y) => y
        identity("where-false", "(where ?c ?x ?y)", "?y", move |e, s| splat_of(e, s, c) == Some(Scalar::Bool(false))),
        // a reduction over dims of size 1 only => a reshape: each result is its single input
        computed("reduce-unit-dims", "(reduce ?op ?x ?axes)", move |e, _, s| unit_reduction(e, s, x)),
    ]
}

/// Whether every value of `from` converts to `to` and back unchanged.
pub(crate) fn holds_exactly(from: DType, to: DType) -> bool {
    use DType::*;
    match (from, to) {
        (a, b) if a == b => true,
        (Bool, _) => true,
        (U8, F32 | F64 | F16 | BF16 | I32 | I64) => true,
        (I32, F64 | I64) => true,
        (F16 | BF16, F32 | F64) => true,
        (F32, F64) => true,
        _ => false,
    }
}

/// `x * (1/c)` for `x / c` when `c` is a float splat `±2^k` whose reciprocal its dtype holds.
fn reciprocal_multiply(
    egraph: &EGraph,
    subst: &Subst,
    x: egg::Var,
    c: egg::Var,
) -> Option<egg::PatternAst<TensorLang>> {
    let ty = type_of(egraph, subst, c)?.clone();
    let Scalar::Float(value) = splat_of(egraph, subst, c)? else { return None };
    if !ty.dtype.is_float() || !value.is_finite() || value == 0.0 {
        return None;
    }
    let reciprocal = 1.0 / value;
    // A power of two has no fraction bits, and its reciprocal is again one unless it
    // overflows or falls below the dtype's range; `filled` says whether the dtype holds it.
    let power_of_two = value.abs().to_bits() & ((1u64 << 52) - 1) == 0;
    let held = crate::rewrite::fold::filled(Scalar::Float(reciprocal), ty.dtype)?;
    if !power_of_two || held != Scalar::Float(reciprocal) || !reciprocal.is_finite() {
        return None;
    }
    let mut rhs = RhsBuilder::default();
    let x = rhs.var(x);
    let factor = rhs.node(TensorLang::Const(Constant { value: held, ty }));
    let mul = rhs.attribute(Attribute::Binary(BinaryOp::Mul));
    rhs.node(TensorLang::Binary([mul, x, factor]));
    Some(rhs.finish())
}

/// `reshape(x)` for a sum, mean, product, max, min, any or all whose reduced dims are all 1.
fn unit_reduction(egraph: &EGraph, subst: &Subst, x: egg::Var) -> Option<egg::PatternAst<TensorLang>> {
    use ReduceOp::*;
    let Some(Attribute::Reduce(Sum | Mean | Prod | Max | Min | Any | All)) = attribute_of(egraph, subst, var("?op"))
    else {
        return None;
    };
    let Some(Attribute::Axes { axes, keepdim }) = attribute_of(egraph, subst, var("?axes")) else { return None };
    let ty = type_of(egraph, subst, x)?;
    if !axes.iter().all(|&a| ty.shape.get(a) == Some(&Dim::Const(1))) {
        return None;
    }
    let reduced = shape::reduce(&ty.shape, axes, *keepdim);
    let mut rhs = RhsBuilder::default();
    let x = rhs.var(x);
    let target = rhs.attribute(Attribute::Shape(reduced));
    rhs.node(TensorLang::Reshape([x, target]));
    Some(rhs.finish())
}
