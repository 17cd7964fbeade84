//! The graph IR: an SSA DAG of typed values, each defined by a graph parameter or by a node.
//!
//! Ids are small typed integers in the manner of Cranelift's entities: nodes live in a dense
//! `Vec` and node `i` defines value `%i`, so a value needs no table of its own. Parameters
//! are values too, defined by the graph's signature; their ids live in a separate range of
//! the same `u32` (the top bit set) so that adding a parameter after nodes exist, as tracing
//! does when it lifts a captured tensor, never renumbers a node.
//!
//! Every node has exactly one typed result. An op with several results (`max_pool2d` gives
//! the maxima and their indices) is used by one node per result it needs: the node's
//! `result` field says which one it takes. Two such nodes with the same op and inputs are
//! one computation that a later pass may share.
//!
//! Analyses keep their facts in side tables keyed by `NodeId` or `Value`; this module knows
//! nothing of printing, inference or passes.

use crate::dtype::DType;
use crate::op::Op;
use crate::shape::{Shape, format_shape};
use std::fmt;

/// The top bit marks a parameter's value; node values use the bits below.
const PARAM_BIT: u32 = 1 << 31;

/// A node of a graph; node `i` defines value `%i`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    pub fn new(index: usize) -> NodeId {
        assert!(index < PARAM_BIT as usize, "a graph holds at most 2^31 nodes");
        NodeId(index as u32)
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The value this node defines.
    pub fn value(self) -> Value {
        Value(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// A value in a graph: `%N` in the text form for the value of node `N`; a parameter prints
/// by its name in a graph's text and as `%argK` on its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(u32);

/// Where a value comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueDef {
    /// The graph parameter at this position of the signature.
    Param(usize),
    Node(NodeId),
}

impl Value {
    /// The value of the parameter at `index` in the signature.
    pub fn param(index: usize) -> Value {
        assert!(index < PARAM_BIT as usize, "a graph holds at most 2^31 parameters");
        Value(PARAM_BIT | index as u32)
    }

    pub fn def(self) -> ValueDef {
        if self.0 & PARAM_BIT != 0 {
            ValueDef::Param((self.0 & !PARAM_BIT) as usize)
        } else {
            ValueDef::Node(NodeId(self.0))
        }
    }

    /// The node that defines this value, if a node does.
    pub fn node(self) -> Option<NodeId> {
        match self.def() {
            ValueDef::Node(n) => Some(n),
            ValueDef::Param(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.def() {
            ValueDef::Param(i) => write!(f, "%arg{i}"),
            ValueDef::Node(n) => write!(f, "{n}"),
        }
    }
}

/// The type of a value: its dtype and its shape (`f32[256,1024]`, `f32[s0,64]`, `i64[]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValueType {
    pub dtype: DType,
    pub shape: Shape,
}

impl ValueType {
    pub fn new(dtype: DType, shape: Shape) -> ValueType {
        ValueType { dtype, shape }
    }

    /// A type of constant dims, for the common case.
    pub fn of(dtype: DType, dims: &[usize]) -> ValueType {
        ValueType { dtype, shape: dims.iter().map(|&d| d.into()).collect() }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}{}", self.dtype, format_shape(&self.shape))
    }
}

/// One operation: `op` applied to `inputs`, taking result number `result` of the op
/// (0 for every op with one result).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<Value>,
    pub result: usize,
    pub ty: ValueType,
}

/// A graph input: a name for the text form and a type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    /// An identifier (`x`, `w1`, `arg0`): letters, digits and `_`, not starting with a digit,
    /// so that it never reads as a node's number.
    pub name: String,
    pub ty: ValueType,
}

/// A function from its parameters to its outputs.
///
/// Invariants (checked by `verify`): a node's inputs are parameters or values of earlier
/// nodes, so the node order is a topological order; every node's type is the one
/// inference gives; every output is defined.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Graph {
    pub name: String,
    pub params: Vec<Param>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<Value>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph { name: name.into(), params: Vec::new(), nodes: Vec::new(), outputs: Vec::new() }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The node ids in order.
    pub fn node_ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + use<> {
        (0..self.nodes.len()).map(NodeId::new)
    }

    /// The values of the parameters, in signature order.
    pub fn param_values(&self) -> impl ExactSizeIterator<Item = Value> + use<> {
        (0..self.params.len()).map(Value::param)
    }

    /// Whether `value` is a parameter or a node of this graph.
    pub fn contains(&self, value: Value) -> bool {
        match value.def() {
            ValueDef::Param(i) => i < self.params.len(),
            ValueDef::Node(n) => n.index() < self.nodes.len(),
        }
    }

    /// The type of a value of this graph; `None` for a value it does not define.
    pub fn value_type(&self, value: Value) -> Option<&ValueType> {
        match value.def() {
            ValueDef::Param(i) => self.params.get(i).map(|p| &p.ty),
            ValueDef::Node(n) => self.nodes.get(n.index()).map(|node| &node.ty),
        }
    }

    /// The types of the outputs; `None` if an output is not defined.
    pub fn output_types(&self) -> Option<Vec<&ValueType>> {
        self.outputs.iter().map(|&v| self.value_type(v)).collect()
    }

    /// Appends a node without checking it and returns its value; `GraphBuilder` is the
    /// checked way to grow a graph.
    pub fn push_node(&mut self, node: Node) -> Value {
        let id = NodeId::new(self.nodes.len());
        self.nodes.push(node);
        id.value()
    }

    /// Appends a parameter without checking its name and returns its value.
    pub fn push_param(&mut self, name: impl Into<String>, ty: ValueType) -> Value {
        self.params.push(Param { name: name.into(), ty });
        Value::param(self.params.len() - 1)
    }
}

/// Whether `name` can name a parameter: an identifier that does not start with a digit.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{Dim, Symbol};

    #[test]
    fn values_print_as_the_text_form_spells_them() {
        assert_eq!(NodeId::new(7).value().to_string(), "%7");
        assert_eq!(Value::param(2).to_string(), "%arg2");
        assert_eq!(Value::param(2).def(), ValueDef::Param(2));
        assert_eq!(NodeId::new(3).value().def(), ValueDef::Node(NodeId::new(3)));
    }

    #[test]
    fn types_print_dtype_then_shape() {
        assert_eq!(ValueType::of(DType::F32, &[256, 1024]).to_string(), "f32[256,1024]");
        assert_eq!(ValueType::of(DType::I64, &[]).to_string(), "i64[]");
        let symbolic = ValueType::new(DType::BF16, Shape::from_slice(&[Dim::Sym(Symbol(0)), Dim::Const(64)]));
        assert_eq!(symbolic.to_string(), "bf16[s0,64]");
    }

    #[test]
    fn param_names_never_look_like_numbers() {
        assert!(is_param_name("x"));
        assert!(is_param_name("w_1"));
        assert!(is_param_name("_"));
        assert!(!is_param_name("1x"));
        assert!(!is_param_name(""));
        assert!(!is_param_name("a-b"));
    }
}
