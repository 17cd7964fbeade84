//! The rewrite rules, by topic, and the machinery that keeps every rule type-preserving.
//!
//! A rule's right side is added only when it types, through the same inference the analysis
//! uses, as exactly the matched class's type: a rule can never change a value's dtype or shape.
//! Several rules lean on this guard as their whole condition where type equality is what
//! makes them exact (a reshape to its operand's own shape is the operand). Rules whose right
//! side depends on the match (a composed permutation, a reciprocal constant) build it as a
//! pattern with concrete leaves and go through the same guard.

mod arithmetic;
mod fusion;
mod movement;

use super::analysis::{ClassData, EGraph, TensorAnalysis, node_data};
use super::attribute::Attribute;
use super::language::TensorLang;
use egg::{Applier, ENodeOrVar, Id, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};
use ignis_ir::{DType, Scalar, ValueType};
use std::sync::OnceLock;

pub type Rule = Rewrite<TensorLang, TensorAnalysis>;

/// Every rule the pass runs, built once.
pub fn all() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = arithmetic::rules();
        rules.extend(movement::rules());
        rules.extend(fusion::rules());
        rules
    })
}

/// What a rule's right side is, for one match: a pattern over the match's variables, or
/// nothing when the rule does not apply there.
type Build = dyn Fn(&EGraph, Id, &Subst) -> Option<PatternAst<TensorLang>> + Send + Sync;

/// Applies the built right side where it types as the matched class.
struct TypedRhs {
    build: Box<Build>,
    vars: Vec<Var>,
}

impl Applier<TensorLang, TensorAnalysis> for TypedRhs {
    fn apply_one(
        &self,
        egraph: &mut EGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<TensorLang>>,
        _rule_name: Symbol,
    ) -> Vec<Id> {
        let Some(rhs) = (self.build)(egraph, eclass, subst) else { return vec![] };
        let Some(expected) = egraph[eclass].data.ty() else { return vec![] };
        if pattern_type(egraph, &rhs, subst).as_ref() != Some(expected) {
            return vec![];
        }
        let id = egraph.add_instantiation(&rhs, subst);
        if egraph.union(eclass, id) { vec![eclass] } else { vec![] }
    }

    fn vars(&self) -> Vec<Var> {
        self.vars.clone()
    }
}

/// The type of `pattern` instantiated with `subst`, without adding it to the e-graph.
fn pattern_type(egraph: &EGraph, pattern: &PatternAst<TensorLang>, subst: &Subst) -> Option<ValueType> {
    let mut data: Vec<ClassData> = Vec::with_capacity(pattern.len());
    for node in pattern.iter() {
        let facts = match node {
            ENodeOrVar::Var(var) => egraph[*subst.get(*var)?].data.clone(),
            ENodeOrVar::ENode(node) => node_data(node, &egraph.analysis.params, |id| &data[usize::from(id)]).ok()?,
        };
        data.push(facts);
    }
    data.pop()?.ty().cloned()
}

fn parse_pattern(rule: &str, text: &str) -> Pattern<TensorLang> {
    text.parse().unwrap_or_else(|e| panic!("rule {rule}: bad pattern `{text}`: {e}"))
}

/// `lhs => rhs` wherever `condition` holds.
pub(super) fn rule(
    name: &str,
    lhs: &str,
    rhs: &str,
    condition: impl Fn(&EGraph, &Subst) -> bool + Send + Sync + 'static,
) -> Rule {
    let searcher = parse_pattern(name, lhs);
    let rhs = parse_pattern(name, rhs);
    let vars = rhs.vars();
    let ast = rhs.ast;
    let build = move |egraph: &EGraph, _: Id, subst: &Subst| condition(egraph, subst).then(|| ast.clone());
    Rewrite::new(name, searcher, TypedRhs { build: Box::new(build), vars })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// `lhs => ` whatever `build` makes of the matched class and variables (`None`: the rule does
/// not apply there).
pub(super) fn computed(
    name: &str,
    lhs: &str,
    build: impl Fn(&EGraph, Id, &Subst) -> Option<PatternAst<TensorLang>> + Send + Sync + 'static,
) -> Rule {
    let searcher = parse_pattern(name, lhs);
    Rewrite::new(name, searcher, TypedRhs { build: Box::new(build), vars: Vec::new() })
        .unwrap_or_else(|e| panic!("rule {name}: {e}"))
}

/// `lhs => operand` wherever `condition` holds, the operand broadcast to the matched class's
/// shape when the other operands made the result larger (`x + zeros` with the zeros `[4,8]`
/// and `x` `[8]` is `x` expanded, a view).
pub(super) fn identity(
    name: &str,
    lhs: &str,
    operand: &str,
    condition: impl Fn(&EGraph, &Subst) -> bool + Send + Sync + 'static,
) -> Rule {
    let operand = var(operand);
    computed(name, lhs, move |egraph, root, subst| {
        if !condition(egraph, subst) {
            return None;
        }
        let shape = &egraph[root].data.ty()?.shape;
        let mut rhs = RhsBuilder::default();
        let x = rhs.var(operand);
        if type_of(egraph, subst, operand)?.shape != *shape {
            let shape = rhs.attribute(Attribute::Shape(shape.clone()));
            rhs.node(TensorLang::Expand([x, shape]));
        }
        Some(rhs.finish())
    })
}

/// Conditions that hold everywhere.
pub(super) fn always(_: &EGraph, _: &Subst) -> bool {
    true
}

/// A pattern variable, `?x`.
pub(super) fn var(name: &str) -> Var {
    name.parse().unwrap_or_else(|e| panic!("bad variable `{name}`: {e}"))
}

/// The type of the class bound to `v`.
pub(super) fn type_of<'a>(egraph: &'a EGraph, subst: &Subst, v: Var) -> Option<&'a ValueType> {
    egraph[*subst.get(v)?].data.ty()
}

/// The dtype of the class bound to `v`.
pub(super) fn dtype_of(egraph: &EGraph, subst: &Subst, v: Var) -> Option<DType> {
    type_of(egraph, subst, v).map(|t| t.dtype)
}

/// The splat value of the class bound to `v`.
pub(super) fn splat_of(egraph: &EGraph, subst: &Subst, v: Var) -> Option<Scalar> {
    egraph[*subst.get(v)?].data.splat()
}

/// The attribute bound to `v`.
pub(super) fn attribute_of<'a>(egraph: &'a EGraph, subst: &Subst, v: Var) -> Option<&'a Attribute> {
    egraph[*subst.get(v)?].data.attribute()
}

/// Whether the class bound to `v` is a splat of the number `n` (either zero for 0).
pub(super) fn is_number(egraph: &EGraph, subst: &Subst, v: Var, n: f64) -> bool {
    splat_of(egraph, subst, v).is_some_and(|s| s.to_f64() == n)
}

/// Builds a right side node by node.
#[derive(Default)]
pub(super) struct RhsBuilder {
    ast: PatternAst<TensorLang>,
}

impl RhsBuilder {
    pub fn var(&mut self, v: Var) -> Id {
        self.ast.add(ENodeOrVar::Var(v))
    }

    pub fn node(&mut self, node: TensorLang) -> Id {
        self.ast.add(ENodeOrVar::ENode(node))
    }

    pub fn attribute(&mut self, attribute: Attribute) -> Id {
        self.node(TensorLang::Attr(attribute))
    }

    /// The pattern, rooted at the last node added.
    pub fn finish(self) -> PatternAst<TensorLang> {
        self.ast
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rules_build_and_have_distinct_names() {
        let names: Vec<String> = all().iter().map(|r| r.name.to_string()).collect();
        let distinct: HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
    }
}
