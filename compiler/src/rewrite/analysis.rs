//! What the e-graph knows about each class: the type of its value (dtype and shape) and, when
//! every element is the same known number, that number.
//!
//! Types come from `ignis_ir::infer`, so a class's type is exactly what a graph node computing
//! it would be given; the number comes from exact folding (`fold`). A class whose value is a
//! known splat gets a `Const` leaf and loses its other nodes, which is constant folding.
//!
//! The analysis cannot fail inside egg, so it records problems instead: a node that does not
//! type, or two classes of different types merged. Only a faulty rule can cause either; the
//! pass then reports an error and the caller keeps the unrewritten graph.

use super::attribute::Attribute;
use super::fold;
use super::language::{Constant, TensorLang, Term};
use egg::{Analysis, DidMerge, Id, Language};
use ignis_ir::infer::{check, infer_result};
use ignis_ir::{InferError, Op, Scalar, ValueType};

pub type EGraph = egg::EGraph<TensorLang, TensorAnalysis>;

/// The analysis state: the parameter types that `Param` leaves refer to, and problems found.
#[derive(Debug, Default)]
pub struct TensorAnalysis {
    pub params: Vec<ValueType>,
    pub problems: Vec<String>,
}

/// The facts of one class.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassData {
    /// A tensor value of type `ty`; `splat` is its value when every element is that number.
    Tensor { ty: ValueType, splat: Option<Scalar> },
    /// An attribute leaf.
    Attribute(Attribute),
    /// A node that does not type (see `TensorAnalysis::problems`).
    Invalid,
}

impl ClassData {
    pub fn ty(&self) -> Option<&ValueType> {
        match self {
            ClassData::Tensor { ty, .. } => Some(ty),
            _ => None,
        }
    }

    pub fn splat(&self) -> Option<Scalar> {
        match self {
            ClassData::Tensor { splat, .. } => *splat,
            _ => None,
        }
    }

    pub fn attribute(&self) -> Option<&Attribute> {
        match self {
            ClassData::Attribute(a) => Some(a),
            _ => None,
        }
    }
}

/// The facts of `node` given the facts of its children; `Err` says why it does not type.
pub fn node_data<'a>(
    node: &TensorLang,
    params: &[ValueType],
    child: impl Fn(Id) -> &'a ClassData,
) -> Result<ClassData, String> {
    match node.term(|id| child(id).attribute())? {
        Term::Param(index) => {
            let ty = params.get(index).ok_or_else(|| format!("{node}: there is no parameter {index}"))?;
            Ok(ClassData::Tensor { ty: ty.clone(), splat: None })
        }
        Term::Attribute(attribute) => Ok(ClassData::Attribute(attribute)),
        Term::Op { op, result, declared, inputs } => {
            let mut types = Vec::with_capacity(inputs.len());
            let mut operands = Vec::with_capacity(inputs.len());
            for &input in &inputs {
                let data = child(input);
                let ty = data.ty().ok_or_else(|| format!("{node}: an operand is not a tensor"))?;
                types.push(ty);
                operands.push((ty, data.splat()));
            }
            let ty = result_type(&op, &types, result, declared).map_err(|e| e.to_string())?;
            let splat = fold::fold(&op, &operands, &ty);
            Ok(ClassData::Tensor { ty, splat })
        }
    }
}

/// The type of result `result` of `op` over inputs of `types`: `declared`, checked, for ops
/// that state their type, else the inferred one.
pub fn result_type(
    op: &Op,
    types: &[&ValueType],
    result: usize,
    declared: Option<ValueType>,
) -> Result<ValueType, InferError> {
    match declared {
        Some(ty) => check(op, types, result, &ty).map(|()| ty),
        None => infer_result(op, types, result),
    }
}

/// Whether two splat values are the same number, not telling zeros apart by sign (rules may
/// change the sign of a zero) nor NaNs by payload.
fn same_number(a: Scalar, b: Scalar) -> bool {
    match (a, b) {
        (Scalar::Float(x), Scalar::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

impl Analysis<TensorLang> for TensorAnalysis {
    type Data = ClassData;

    fn make(egraph: &mut EGraph, enode: &TensorLang, _id: Id) -> ClassData {
        match node_data(enode, &egraph.analysis.params, |id| &egraph[id].data) {
            Ok(data) => data,
            Err(problem) => {
                egraph.analysis.problems.push(problem);
                ClassData::Invalid
            }
        }
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        if *a == ClassData::Invalid {
            return DidMerge(false, b != ClassData::Invalid);
        }
        if b == ClassData::Invalid {
            *a = ClassData::Invalid;
            return DidMerge(true, false);
        }
        match (a, b) {
            (ClassData::Tensor { ty, splat }, ClassData::Tensor { ty: other_ty, splat: other_splat }) => {
                if *ty != other_ty {
                    self.problems.push(format!("a rule equated a {ty} value with a {other_ty} value"));
                    return DidMerge(false, true);
                }
                match (*splat, other_splat) {
                    (None, Some(value)) => {
                        *splat = Some(value);
                        DidMerge(true, false)
                    }
                    (Some(_), None) => DidMerge(false, true),
                    (Some(x), Some(y)) if !same_number(x, y) => {
                        self.problems.push(format!("a rule equated the constants {x} and {y} of type {ty}"));
                        DidMerge(false, true)
                    }
                    _ => DidMerge(false, false),
                }
            }
            (ClassData::Attribute(x), ClassData::Attribute(y)) => {
                if *x != y {
                    self.problems.push(format!("a rule equated the attributes {x} and {y}"));
                }
                DidMerge(false, *x != y)
            }
            (x, y) => {
                self.problems.push(format!("a rule equated {x:?} with {y:?}"));
                DidMerge(false, true)
            }
        }
    }

    /// A class of known splat value becomes that constant alone: the constant is always the
    /// cheapest choice, and dropping the other nodes spares the rules their matches.
    fn modify(egraph: &mut EGraph, id: Id) {
        let ClassData::Tensor { ty, splat: Some(value) } = &egraph[id].data else { return };
        let constant = TensorLang::Const(Constant { value: *value, ty: ty.clone() });
        if !egraph[id].nodes.iter().any(|n| matches!(n, TensorLang::Const(_))) {
            let added = egraph.add(constant);
            egraph.union(id, added);
        }
        let id = egraph.find(id);
        egraph[id].nodes.retain(|n| n.is_leaf());
    }
}
