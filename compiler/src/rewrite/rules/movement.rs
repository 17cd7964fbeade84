//! Movement ops: cancelling and merging views, and moving elementwise work before a
//! broadcast so it runs on fewer elements. Every rule here is exact: views only relabel
//! elements, and an elementwise op commutes with any relabelling.

use super::{RhsBuilder, Rule, always, attribute_of, computed, rule, type_of, var};
use crate::rewrite::analysis::EGraph;
use crate::rewrite::attribute::Attribute;
use crate::rewrite::language::TensorLang;
use egg::{PatternAst, Subst};

pub fn rules() -> Vec<Rule> {
    let (x, shape, p, range) = (var("?x"), var("?shape"), var("?p"), var("?range"));
    // An expand that really broadcasts (one to its operand's own shape is the operand, and
    // moving work before it would only add copies of the same class).
    let broadcasts = move |e: &EGraph, s: &Subst| match (attribute_of(e, s, shape), type_of(e, s, x)) {
        (Some(Attribute::Shape(target)), Some(ty)) => *target != ty.shape,
        _ => false,
    };
    vec![
        // reshape(reshape(x)) => reshape(x): only the last shape matters
        rule("reshape-reshape", "(reshape (reshape ?x ?a) ?b)", "(reshape ?x ?b)", always),
        // reshape(x) to x's own shape => x (the type guard is the condition)
        rule("reshape-noop", "(reshape ?x ?shape)", "?x", always),
        // expand(x) to x's own shape => x (the type guard is the condition)
        rule("expand-noop", "(expand ?x ?shape)", "?x", always),
        // expand(expand(x)) => expand(x): broadcasting twice is broadcasting once
        rule("expand-expand", "(expand (expand ?x ?a) ?b)", "(expand ?x ?b)", always),
        // permute(x, identity) => x
        rule(
            "permute-identity",
            "(permute ?x ?p)",
            "?x",
            move |e, s| matches!(attribute_of(e, s, p), Some(Attribute::Perm(perm)) if is_identity(perm)),
        ),
        // permute(permute(x, p), q) => permute(x, p∘q): one view instead of two
        computed("permute-permute", "(permute (permute ?x ?p) ?q)", |e, _, s| composed_permutation(e, s)),
        // slice(x) from 0 with step 1 over the whole dim => x (the guard checks the length)
        rule("slice-whole", "(slice ?x ?range)", "?x", move |e, s| {
            matches!(attribute_of(e, s, range), Some(Attribute::Slice { start: 0, step: 1, .. }))
        }),
        // slice(slice(x)) along one dim => one slice
        computed("slice-slice", "(slice (slice ?x ?a) ?b)", |e, _, s| composed_slice(e, s)),
        // op(expand(x)) => expand(op(x)) for an elementwise op: it runs on the smaller tensor
        rule("unary-before-expand", "(unary ?op (expand ?x ?shape))", "(expand (unary ?op ?x) ?shape)", broadcasts),
        // cast(expand(x)) => expand(cast(x))
        rule("cast-before-expand", "(cast (expand ?x ?shape) ?to)", "(expand (cast ?x ?to) ?shape)", broadcasts),
        // op(expand(x), y) => expand(op(x, y)) where that types as the same value: the op runs
        // on broadcast(x, y) elements, fewer when y is broadcast too; when y is as large as the
        // result the expand disappears (a bias broadcast sinks into its add)
        rule(
            "binary-before-expand-left",
            "(binary ?op (expand ?x ?shape) ?y)",
            "(expand (binary ?op ?x ?y) ?shape)",
            broadcasts,
        ),
        // op(y, expand(x)) => expand(op(y, x)) likewise
        rule(
            "binary-before-expand-right",
            "(binary ?op ?y (expand ?x ?shape))",
            "(expand (binary ?op ?y ?x) ?shape)",
            broadcasts,
        ),
    ]
}

fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &d)| i == d)
}

/// `permute(x, r)` with `r[i] = p[q[i]]` for `permute(permute(x, p), q)`.
fn composed_permutation(egraph: &EGraph, subst: &Subst) -> Option<PatternAst<TensorLang>> {
    let (Some(Attribute::Perm(p)), Some(Attribute::Perm(q))) =
        (attribute_of(egraph, subst, var("?p")), attribute_of(egraph, subst, var("?q")))
    else {
        return None;
    };
    let composed: Option<Vec<usize>> = q.iter().map(|&i| p.get(i).copied()).collect();
    let mut rhs = RhsBuilder::default();
    let x = rhs.var(var("?x"));
    let perm = rhs.attribute(Attribute::Perm(composed?));
    rhs.node(TensorLang::Permute([x, perm]));
    Some(rhs.finish())
}

/// One slice for two along the same dim: the outer picks elements `b.start + j·b.step` of the
/// inner, which are `a.start + (b.start + j·b.step)·a.step` of `x`.
fn composed_slice(egraph: &EGraph, subst: &Subst) -> Option<PatternAst<TensorLang>> {
    let (
        Some(&Attribute::Slice { dim, start: a_start, step: a_step, .. }),
        Some(&Attribute::Slice { dim: b_dim, start: b_start, len, step: b_step }),
    ) = (attribute_of(egraph, subst, var("?a")), attribute_of(egraph, subst, var("?b")))
    else {
        return None;
    };
    if dim != b_dim {
        return None;
    }
    let start = a_start.checked_add(b_start.checked_mul(a_step)?)?;
    let step = a_step.checked_mul(b_step)?;
    let mut rhs = RhsBuilder::default();
    let x = rhs.var(var("?x"));
    let range = rhs.attribute(Attribute::Slice { dim, start, len, step });
    rhs.node(TensorLang::Slice([x, range]));
    Some(rhs.finish())
}
