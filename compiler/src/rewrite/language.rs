//! The e-graph language of the rewrite pass: the graph IR's ops as egg e-nodes.
//!
//! The ops that rules reason about have variants of their own: elementwise (`unary`, `binary`,
//! `where`, `cast`), reductions, the view-like movement ops and `matmul`. Their attributes are
//! leaf children (see `attribute`), written after the op's kind and operands as in the IR's
//! text: `(unary neg ?x)`, `(binary add ?x ?y)`, `(reduce sum ?x ?axes)`, `(reshape ?x ?shape)`.
//! Graph parameters are `Param` leaves and constants `Const` leaves that carry their dtype,
//! shape and value. Every other op (gather, convolutions, pools, random numbers, composites)
//! is `Opaque`: it carries its `ignis_ir::Op` and result index and passes through unchanged.
//!
//! This module only translates between `ignis_ir::Op` and e-nodes; it knows nothing of types
//! (see `analysis`) or rules.

use super::attribute::{Attribute, compare_types, parse_items, parse_type, scalar_key, write_items};
use egg::{Id, define_language};
use ignis_ir::attrs::build_op;
use ignis_ir::{Op, Scalar, ValueType};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

define_language! {
    /// A tensor program as e-nodes; see the module documentation for the spelling.
    pub enum TensorLang {
        // (unary op x)
        "unary" = Unary([Id; 2]),
        // (binary op a b)
        "binary" = Binary([Id; 3]),
        // (where condition a b)
        "where" = Where([Id; 3]),
        // (cast x dtype)
        "cast" = Cast([Id; 2]),
        // (reduce op x axes)
        "reduce" = Reduce([Id; 3]),
        // (reshape x shape)
        "reshape" = Reshape([Id; 2]),
        // (permute x perm)
        "permute" = Permute([Id; 2]),
        // (expand x shape)
        "expand" = Expand([Id; 2]),
        // (slice x range)
        "slice" = Slice([Id; 2]),
        // (matmul a b)
        "matmul" = Matmul([Id; 2]),
        Param(ParamIndex),
        Const(Constant),
        Attr(Attribute),
        Opaque(OpaqueOp, Box<[Id]>),
    }
}

/// A graph parameter by its position in the signature: `arg0` (the IR writes `%arg0`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamIndex(pub usize);

impl fmt::Display for ParamIndex {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "arg{}", self.0)
    }
}

impl FromStr for ParamIndex {
    type Err = String;
    fn from_str(text: &str) -> Result<ParamIndex, String> {
        let digits = text.strip_prefix("arg").ok_or_else(|| format!("`{text}` is not a parameter"))?;
        digits.parse().map(ParamIndex).map_err(|_| format!("`{text}` is not a parameter"))
    }
}

/// A constant node: `value` broadcast to `ty`, as `ignis_ir::Op::Constant` with its node's type;
/// written `0.5:f32[4,8]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Constant {
    pub value: Scalar,
    pub ty: ValueType,
}

impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.value, self.ty)
    }
}

impl FromStr for Constant {
    type Err = String;
    fn from_str(text: &str) -> Result<Constant, String> {
        let (value, ty) = text.split_once(':').ok_or_else(|| format!("`{text}` is not a constant"))?;
        Ok(Constant { value: value.parse()?, ty: parse_type(ty)? })
    }
}

impl PartialOrd for Constant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Constant {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_types(&self.ty, &other.ty).then_with(|| scalar_key(self.value).cmp(&scalar_key(other.value)))
    }
}

/// An op the language does not model: carried whole, with the result the node takes and, for
/// ops whose type does not follow from their inputs (iota, random numbers), the node's type.
/// Written as the op's name, `#k` for result `k > 0`, its attributes and the declared type:
/// `gather,dim=1`, `max_pool2d#1,kernel=[2,2],...`, `rand_uniform:f32[4]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpaqueOp {
    pub op: Op,
    pub result: usize,
    pub declared: Option<ValueType>,
}

impl fmt::Display for OpaqueOp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let name = match self.result {
            0 => self.op.name().to_string(),
            k => format!("{}#{k}", self.op.name()),
        };
        write_items(f, Some(&name), &self.op)?;
        match &self.declared {
            Some(ty) => write!(f, ":{ty}"),
            None => Ok(()),
        }
    }
}

impl FromStr for OpaqueOp {
    type Err = String;
    fn from_str(text: &str) -> Result<OpaqueOp, String> {
        let (text, declared) = match text.split_once(':') {
            Some((op, ty)) => (op, Some(parse_type(ty)?)),
            None => (text, None),
        };
        let (name, mut attrs) = parse_items(text)?;
        let name = name.ok_or_else(|| format!("`{text}` names no op"))?;
        let (name, result) = match name.split_once('#') {
            Some((name, k)) => (name.to_string(), k.parse().map_err(|_| format!("bad result number in `{text}`"))?),
            None => (name, 0),
        };
        let op = build_op(&name, None, &mut attrs).map_err(|e| e.message)?;
        if let Some(key) = attrs.remaining().next() {
            return Err(format!("{name} has no attribute `{key}`"));
        }
        if op.declares_result_type() != declared.is_some() {
            return Err(format!("`{text}`: only ops that declare their type carry one"));
        }
        Ok(OpaqueOp { op, result, declared })
    }
}

impl PartialOrd for OpaqueOp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders by name and result; two different ops of one name (rare within one class, where egg
/// sorts) fall back to their debug text, which differs exactly when the ops differ.
impl Ord for OpaqueOp {
    fn cmp(&self, other: &Self) -> Ordering {
        if self == other {
            return Ordering::Equal;
        }
        (self.op.name(), self.result)
            .cmp(&(other.op.name(), other.result))
            .then_with(|| format!("{:?}", self.op).cmp(&format!("{:?}", other.op)))
            .then_with(|| match (&self.declared, &other.declared) {
                (Some(a), Some(b)) => compare_types(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

/// What an e-node stands for in a graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Param(usize),
    Attribute(Attribute),
    /// `op` over the tensor children `inputs`, taking result number `result`; `declared` is the
    /// node's type for ops that state it (constants, iota, random numbers).
    Op {
        op: Op,
        result: usize,
        declared: Option<ValueType>,
        inputs: SmallVec<[Id; 3]>,
    },
}

impl TensorLang {
    /// The graph meaning of this node; `attribute` reads the attribute leaf of a child class.
    pub fn term<'a>(&self, attribute: impl Fn(Id) -> Option<&'a Attribute>) -> Result<Term, String> {
        let attr = |id: Id, what: &str| attribute(id).ok_or_else(|| format!("{self}: the {what} is not an attribute"));
        let op = |op: Op, inputs: &[Id]| Term::Op { op, result: 0, declared: None, inputs: inputs.into() };
        let wrong = |id: Id, what: &str| -> Result<Term, String> {
            Err(format!("{self}: expected {what}, found {}", attr(id, what)?))
        };
        Ok(match self {
            TensorLang::Unary([kind, x]) => match attr(*kind, "op")? {
                Attribute::Unary(u) => op(Op::Unary(*u), &[*x]),
                _ => return wrong(*kind, "a unary op"),
            },
            TensorLang::Binary([kind, a, b]) => match attr(*kind, "op")? {
                Attribute::Binary(b_op) => op(Op::Binary(*b_op), &[*a, *b]),
                _ => return wrong(*kind, "a binary op"),
            },
            TensorLang::Where([c, a, b]) => op(Op::Where, &[*c, *a, *b]),
            TensorLang::Cast([x, to]) => match attr(*to, "dtype")? {
                Attribute::DType(d) => op(Op::Cast(*d), &[*x]),
                _ => return wrong(*to, "a dtype"),
            },
            TensorLang::Reduce([kind, x, axes]) => match (attr(*kind, "op")?, attr(*axes, "axes")?) {
                (Attribute::Reduce(r), Attribute::Axes { axes, keepdim }) => {
                    op(Op::Reduce { op: *r, axes: axes.clone(), keepdim: *keepdim }, &[*x])
                }
                _ => return Err(format!("{self}: expected a reduce op and its axes")),
            },
            TensorLang::Reshape([x, shape]) => match attr(*shape, "shape")? {
                Attribute::Shape(s) => op(Op::Reshape { shape: s.clone() }, &[*x]),
                _ => return wrong(*shape, "a shape"),
            },
            TensorLang::Expand([x, shape]) => match attr(*shape, "shape")? {
                Attribute::Shape(s) => op(Op::Expand { shape: s.clone() }, &[*x]),
                _ => return wrong(*shape, "a shape"),
            },
            TensorLang::Permute([x, perm]) => match attr(*perm, "permutation")? {
                Attribute::Perm(p) => op(Op::Permute { perm: p.clone() }, &[*x]),
                _ => return wrong(*perm, "a permutation"),
            },
            TensorLang::Slice([x, range]) => match attr(*range, "range")? {
                &Attribute::Slice { dim, start, len, step } => op(Op::Slice { dim, start, len, step }, &[*x]),
                _ => return wrong(*range, "a slice range"),
            },
            TensorLang::Matmul([a, b]) => op(Op::Matmul, &[*a, *b]),
            TensorLang::Param(index) => Term::Param(index.0),
            TensorLang::Const(c) => {
                Term::Op { op: Op::Constant(c.value), result: 0, declared: Some(c.ty.clone()), inputs: SmallVec::new() }
            }
            TensorLang::Attr(a) => Term::Attribute(a.clone()),
            TensorLang::Opaque(o, inputs) => {
                Term::Op { op: o.op.clone(), result: o.result, declared: o.declared.clone(), inputs: inputs[..].into() }
            }
        })
    }

    /// The e-node of a graph node: `op` over the classes `inputs`, taking result `result`, with
    /// type `ty`; `attribute` adds an attribute leaf and gives its class.
    pub fn from_graph_op(
        op: &Op,
        result: usize,
        ty: &ValueType,
        inputs: &[Id],
        mut attribute: impl FnMut(Attribute) -> Id,
    ) -> TensorLang {
        let unary_input = || inputs[0];
        match op {
            Op::Unary(u) => TensorLang::Unary([attribute(Attribute::Unary(*u)), unary_input()]),
            Op::Binary(b) => TensorLang::Binary([attribute(Attribute::Binary(*b)), inputs[0], inputs[1]]),
            Op::Where => TensorLang::Where([inputs[0], inputs[1], inputs[2]]),
            Op::Cast(d) => TensorLang::Cast([unary_input(), attribute(Attribute::DType(*d))]),
            Op::Reduce { op, axes, keepdim } => {
                let kind = attribute(Attribute::Reduce(*op));
                let axes = attribute(Attribute::Axes { axes: axes.clone(), keepdim: *keepdim });
                TensorLang::Reduce([kind, unary_input(), axes])
            }
            Op::Reshape { shape } => TensorLang::Reshape([unary_input(), attribute(Attribute::Shape(shape.clone()))]),
            Op::Expand { shape } => TensorLang::Expand([unary_input(), attribute(Attribute::Shape(shape.clone()))]),
            Op::Permute { perm } => TensorLang::Permute([unary_input(), attribute(Attribute::Perm(perm.clone()))]),
            &Op::Slice { dim, start, len, step } => {
                TensorLang::Slice([unary_input(), attribute(Attribute::Slice { dim, start, len, step })])
            }
            Op::Matmul => TensorLang::Matmul([inputs[0], inputs[1]]),
            Op::Constant(value) => TensorLang::Const(Constant { value: *value, ty: ty.clone() }),
            other => {
                let declared = other.declares_result_type().then(|| ty.clone());
                TensorLang::Opaque(OpaqueOp { op: other.clone(), result, declared }, inputs.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::RecExpr;

    #[test]
    fn expressions_print_and_parse_back() {
        let text = "(binary add (unary neg (reshape arg0 shape=[2,2])) (expand 0.5:f32[] shape=[2,2]))";
        let expr: RecExpr<TensorLang> = text.parse().unwrap();
        assert_eq!(expr.to_string(), text);
        let opaque = "(gather,dim=1 arg0 arg1)";
        assert_eq!(opaque.parse::<RecExpr<TensorLang>>().unwrap().to_string(), opaque);
        let random = "(rand_uniform:f32[4] arg0 arg1)";
        assert_eq!(random.parse::<RecExpr<TensorLang>>().unwrap().to_string(), random);
        let pooled = "(max_pool2d#1,kernel=[2,2],stride=[2,2],padding=[0,0],dilation=[1,1] arg0)";
        assert_eq!(pooled.parse::<RecExpr<TensorLang>>().unwrap().to_string(), pooled);
    }

    #[test]
    fn opaque_ops_need_their_declared_type_exactly_when_they_declare_one() {
        assert!("rand_uniform".parse::<OpaqueOp>().is_err());
        assert!("gather,dim=0:f32[2]".parse::<OpaqueOp>().is_err());
        assert!("frobnicate".parse::<OpaqueOp>().is_err());
    }
}
