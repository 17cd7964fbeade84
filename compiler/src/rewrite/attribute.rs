//! Op attributes as e-graph leaves: which unary, binary or reduce op a node performs, a cast's
//! dtype, a reshape's or expand's shape, a permutation, reduced axes, a slice.
//!
//! An attribute is a leaf child of the node it qualifies rather than data on the node, so that
//! a rule binds it like an operand (`(permute (permute ?x ?p) ?q)`) or names it
//! (`(unary neg ?x)`). The text of an attribute is the graph IR's own attribute syntax without
//! spaces (`shape=[4,8]`, `axes=[1],keepdim=true`, `to=f16`, `leaky_relu,slope=0.01`), printed
//! and rebuilt through `ignis_ir::attrs`, so this module keeps no list of op names of its own.

use ignis_ir::attrs::{Attr, AttrSet, attributes, build_op};
use ignis_ir::{BinaryOp, DType, Dim, Op, ReduceOp, Scalar, Shape, UnaryOp, ValueType};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// One attribute leaf.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Attribute {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Reduce(ReduceOp),
    /// A cast's target dtype.
    DType(DType),
    /// A reshape's or an expand's target shape.
    Shape(Shape),
    Perm(Vec<usize>),
    /// A reduction's axes and whether the reduced dims stay as 1s.
    Axes {
        axes: Vec<usize>,
        keepdim: bool,
    },
    Slice {
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
    },
}

impl Attribute {
    /// An op that carries exactly this attribute, for printing and parsing through `ignis_ir::attrs`.
    fn carrier(&self) -> Op {
        match self {
            Attribute::Unary(u) => Op::Unary(*u),
            Attribute::Binary(b) => Op::Binary(*b),
            Attribute::Reduce(r) => Op::Reduce { op: *r, axes: Vec::new(), keepdim: false },
            Attribute::DType(d) => Op::Cast(*d),
            Attribute::Shape(shape) => Op::Reshape { shape: shape.clone() },
            Attribute::Perm(perm) => Op::Permute { perm: perm.clone() },
            Attribute::Axes { axes, keepdim } => {
                Op::Reduce { op: ReduceOp::Sum, axes: axes.clone(), keepdim: *keepdim }
            }
            &Attribute::Slice { dim, start, len, step } => Op::Slice { dim, start, len, step },
        }
    }

    /// Which variant, for ordering attributes of different kinds.
    fn rank(&self) -> u8 {
        match self {
            Attribute::Unary(_) => 0,
            Attribute::Binary(_) => 1,
            Attribute::Reduce(_) => 2,
            Attribute::DType(_) => 3,
            Attribute::Shape(_) => 4,
            Attribute::Perm(_) => 5,
            Attribute::Axes { .. } => 6,
            Attribute::Slice { .. } => 7,
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            // Op kinds print their name; a reduce kind's axes live in their own leaf.
            Attribute::Unary(u) => write_items(f, Some(u.name()), &self.carrier()),
            Attribute::Binary(b) => f.write_str(b.name()),
            Attribute::Reduce(r) => f.write_str(r.name()),
            _ => write_items(f, None, &self.carrier()),
        }
    }
}

impl FromStr for Attribute {
    type Err = String;

    fn from_str(text: &str) -> Result<Attribute, String> {
        let (name, mut attrs) = parse_items(text)?;
        if let Some(name) = name {
            if let Some(r) = ReduceOp::ALL.iter().find(|r| r.name() == name) {
                return finish(Attribute::Reduce(*r), &attrs);
            }
            return match build_op(&name, None, &mut attrs).map_err(|e| e.message)? {
                Op::Unary(u) => finish(Attribute::Unary(u), &attrs),
                Op::Binary(b) => finish(Attribute::Binary(b), &attrs),
                _ => Err(format!("`{name}` is not an attribute")),
            };
        }
        // Without a name, the keys say which op the attribute belongs to.
        let keys: Vec<&str> = attrs.remaining().collect();
        let carrier = match keys.first().copied() {
            Some("to") => "cast",
            Some("shape") => "reshape",
            Some("perm") => "permute",
            Some("axes") => "sum",
            Some("dim") => "slice",
            _ => return Err(format!("`{text}` is not an attribute")),
        };
        let attribute = match build_op(carrier, None, &mut attrs).map_err(|e| e.message)? {
            Op::Cast(d) => Attribute::DType(d),
            Op::Reshape { shape } => Attribute::Shape(shape),
            Op::Permute { perm } => Attribute::Perm(perm),
            Op::Reduce { axes, keepdim, .. } => Attribute::Axes { axes, keepdim },
            Op::Slice { dim, start, len, step } => Attribute::Slice { dim, start, len, step },
            _ => unreachable!("the carriers above build these ops"),
        };
        finish(attribute, &attrs)
    }
}

fn finish(attribute: Attribute, rest: &AttrSet) -> Result<Attribute, String> {
    match rest.remaining().next() {
        Some(key) => Err(format!("`{attribute}` has no attribute `{key}`")),
        None => Ok(attribute),
    }
}

impl PartialOrd for Attribute {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A total order for egg, which sorts the nodes of each class; it agrees with `Eq`.
impl Ord for Attribute {
    fn cmp(&self, other: &Self) -> Ordering {
        use Attribute::*;
        self.rank().cmp(&other.rank()).then_with(|| match (self, other) {
            (Unary(a), Unary(b)) => a.name().cmp(b.name()).then_with(|| unary_parameters(a).cmp(&unary_parameters(b))),
            (Binary(a), Binary(b)) => a.name().cmp(b.name()),
            (Reduce(a), Reduce(b)) => a.name().cmp(b.name()),
            (DType(a), DType(b)) => a.cmp(b),
            (Shape(a), Shape(b)) => compare_shapes(a, b),
            (Perm(a), Perm(b)) => a.cmp(b),
            (Axes { axes: a, keepdim: k }, Axes { axes: b, keepdim: l }) => (a, k).cmp(&(b, l)),
            (Slice { dim, start, len, step }, Slice { dim: d, start: s, len: l, step: t }) => {
                (dim, start, len, step).cmp(&(d, s, l, t))
            }
            _ => Ordering::Equal,
        })
    }
}

/// The parameters of a unary op as sortable keys.
fn unary_parameters(op: &UnaryOp) -> [Option<(u8, u64)>; 3] {
    let key = |s: &Scalar| Some(scalar_key(*s));
    match op {
        UnaryOp::LeakyRelu { slope } => [key(slope), None, None],
        UnaryOp::Elu { alpha } => [key(alpha), None, None],
        UnaryOp::Clamp { min, max } => [min.as_ref().and_then(key), max.as_ref().and_then(key), None],
        UnaryOp::NanToNum { nan, posinf, neginf } => [key(nan), key(posinf), key(neginf)],
        _ => [None, None, None],
    }
}

/// A scalar as a sortable key that tells apart exactly what `Scalar`'s `Eq` tells apart.
pub(super) fn scalar_key(value: Scalar) -> (u8, u64) {
    match value {
        Scalar::Float(v) => (0, v.to_bits()),
        Scalar::Int(v) => (1, v as u64),
        Scalar::Bool(v) => (2, v as u64),
    }
}

/// Shapes ordered dim by dim, constants before symbols.
pub(super) fn compare_shapes(a: &[Dim], b: &[Dim]) -> Ordering {
    let key = |d: &Dim| match d {
        Dim::Const(n) => (0u8, *n as u64),
        Dim::Sym(s) => (1u8, s.0 as u64),
    };
    a.iter().map(key).cmp(b.iter().map(key))
}

/// Types ordered by dtype, then shape.
pub(super) fn compare_types(a: &ValueType, b: &ValueType) -> Ordering {
    a.dtype.cmp(&b.dtype).then_with(|| compare_shapes(&a.shape, &b.shape))
}

/// Writes `name,key=value,...` (the name optional) for the attributes of `op`.
pub(super) fn write_items(f: &mut fmt::Formatter, name: Option<&str>, op: &Op) -> fmt::Result {
    let mut first = true;
    if let Some(name) = name {
        f.write_str(name)?;
        first = false;
    }
    for (key, value) in attributes(op) {
        if !first {
            f.write_str(",")?;
        }
        first = false;
        write!(f, "{key}={value}")?;
    }
    Ok(())
}

/// Splits `name,key=value,...` (the name optional) into the name and the attributes.
pub(super) fn parse_items(text: &str) -> Result<(Option<String>, AttrSet), String> {
    let mut name = None;
    let mut entries = Vec::new();
    for (i, item) in split_top_level(text).into_iter().enumerate() {
        match item.split_once('=') {
            Some((key, value)) => entries.push((key.to_string(), parse_attr(value)?)),
            None if i == 0 && !item.is_empty() => name = Some(item.to_string()),
            None => return Err(format!("expected `key=value`, found `{item}` in `{text}`")),
        }
    }
    Ok((name, AttrSet::new(entries)))
}

/// Splits at the commas that are outside brackets.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// One attribute value: a scalar, a word or a bracketed list.
fn parse_attr(text: &str) -> Result<Attr, String> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| format!("unclosed list `{text}`"))?;
        if inner.is_empty() {
            return Ok(Attr::List(Vec::new()));
        }
        return split_top_level(inner).into_iter().map(parse_attr).collect::<Result<_, _>>().map(Attr::List);
    }
    if text.is_empty() {
        return Err("an empty attribute value".into());
    }
    Ok(text.parse::<Scalar>().map(Attr::Scalar).unwrap_or_else(|_| Attr::Word(text.to_string())))
}

/// A type as the text form spells it: `f32[4,s0]`.
pub(super) fn parse_type(text: &str) -> Result<ValueType, String> {
    let (dtype, dims) = text.split_once('[').ok_or_else(|| format!("`{text}` is not a type"))?;
    let dtype: DType = dtype.parse()?;
    let dims = dims.strip_suffix(']').ok_or_else(|| format!("`{text}` is not a type"))?;
    let mut shape = Shape::new();
    if !dims.is_empty() {
        for dim in dims.split(',') {
            shape.push(match dim.parse::<usize>() {
                Ok(n) => Dim::Const(n),
                Err(_) => ignis_ir::attrs::parse_symbol(dim)
                    .map(Dim::Sym)
                    .ok_or_else(|| format!("`{dim}` is not a dim in `{text}`"))?,
            });
        }
    }
    Ok(ValueType::new(dtype, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_print_as_the_ir_spells_them_and_parse_back() {
        let cases = [
            (Attribute::Unary(UnaryOp::Neg), "neg"),
            (Attribute::Unary(UnaryOp::LeakyRelu { slope: Scalar::Float(0.01) }), "leaky_relu,slope=0.01"),
            (Attribute::Unary(UnaryOp::Clamp { min: None, max: Some(Scalar::Float(6.0)) }), "clamp,max=6.0"),
            (Attribute::Binary(BinaryOp::Add), "add"),
            (Attribute::Reduce(ReduceOp::ArgMax), "argmax"),
            (Attribute::DType(DType::F16), "to=f16"),
            (Attribute::Shape(Shape::from_slice(&[Dim::Const(4), Dim::Sym(ignis_ir::Symbol(0))])), "shape=[4,s0]"),
            (Attribute::Perm(vec![1, 0]), "perm=[1,0]"),
            (Attribute::Axes { axes: vec![0, 2], keepdim: true }, "axes=[0,2],keepdim=true"),
            (Attribute::Axes { axes: vec![], keepdim: false }, "axes=[],keepdim=false"),
            (Attribute::Slice { dim: 1, start: 2, len: 3, step: 1 }, "dim=1,start=2,len=3,step=1"),
        ];
        for (attribute, text) in cases {
            assert_eq!(attribute.to_string(), text);
            assert_eq!(text.parse::<Attribute>(), Ok(attribute));
        }
        assert!("gather".parse::<Attribute>().is_err());
        assert!("perm=[1,0],slope=1.0".parse::<Attribute>().is_err());
        assert!("shape=[4".parse::<Attribute>().is_err());
    }

    #[test]
    fn types_parse() {
        assert_eq!(parse_type("f32[4,8]").unwrap(), ValueType::of(DType::F32, &[4, 8]));
        assert_eq!(parse_type("i64[]").unwrap(), ValueType::of(DType::I64, &[]));
        assert!(parse_type("f32").is_err());
    }

    #[test]
    fn order_agrees_with_equality() {
        let a = Attribute::Unary(UnaryOp::LeakyRelu { slope: Scalar::Float(0.01) });
        let b = Attribute::Unary(UnaryOp::LeakyRelu { slope: Scalar::Float(0.02) });
        assert_ne!(a.cmp(&b), Ordering::Equal);
        assert_eq!(a.cmp(&a.clone()), Ordering::Equal);
        assert_eq!(Attribute::Perm(vec![1, 0]).cmp(&Attribute::Shape(Shape::new())), Ordering::Greater);
    }
}
