//! Grows a graph one node at a time, inferring each node's type so that a built graph is
//! well typed by construction.

use crate::dtype::DType;
use crate::graph::{Graph, Node, Value, ValueType, is_param_name};
use crate::infer::{self, InferError};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp, Window2d};
use crate::scalar::Scalar;
use crate::shape::{Dim, Shape, normalize_axis};

/// Why a node or parameter could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error("{0} is not a value of this graph")]
    UnknownValue(Value),
    #[error("`{0}` cannot name a parameter: use letters, digits and `_`, not starting with a digit")]
    BadParamName(String),
    #[error("two parameters are named `{0}`")]
    DuplicateParam(String),
}

pub type BuildResult<T> = Result<T, BuildError>;

/// Builds a `Graph`; every `push` checks its inputs and infers the result type.
#[derive(Debug)]
pub struct GraphBuilder {
    graph: Graph,
}

impl GraphBuilder {
    pub fn new(name: impl Into<String>) -> GraphBuilder {
        GraphBuilder { graph: Graph::new(name) }
    }

    /// Adds a parameter named `argK` after its position.
    pub fn param(&mut self, dtype: DType, shape: &[usize]) -> Value {
        let name = format!("arg{}", self.graph.params.len());
        let dims: Shape = shape.iter().map(|&d| Dim::Const(d)).collect();
        self.graph.push_param(name, ValueType::new(dtype, dims))
    }

    /// Adds a parameter with a name for the text form and a possibly symbolic type.
    pub fn named_param(&mut self, name: &str, ty: ValueType) -> BuildResult<Value> {
        if !is_param_name(name) {
            return Err(BuildError::BadParamName(name.to_string()));
        }
        if self.graph.params.iter().any(|p| p.name == name) {
            return Err(BuildError::DuplicateParam(name.to_string()));
        }
        Ok(self.graph.push_param(name, ty))
    }

    /// The type of a value built so far.
    pub fn value_type(&self, value: Value) -> BuildResult<&ValueType> {
        self.graph.value_type(value).ok_or(BuildError::UnknownValue(value))
    }

    fn input_types(&self, inputs: &[Value]) -> BuildResult<Vec<&ValueType>> {
        inputs.iter().map(|&v| self.value_type(v)).collect()
    }

    /// Appends `op(inputs)` with its inferred type.
    pub fn push(&mut self, op: Op, inputs: &[Value]) -> BuildResult<Value> {
        self.push_result(op, inputs, 0)
    }

    /// Appends a node taking result number `result` of `op(inputs)`.
    pub fn push_result(&mut self, op: Op, inputs: &[Value], result: usize) -> BuildResult<Value> {
        let ty = infer::infer_result(&op, &self.input_types(inputs)?, result)?;
        Ok(self.graph.push_node(Node { op, inputs: inputs.to_vec(), result, ty }))
    }

    /// Appends a node of an op that declares its result type (constants, iota, random
    /// numbers, masked_select), or of any op whose inferred type must equal `ty`.
    pub fn push_typed(&mut self, op: Op, inputs: &[Value], ty: ValueType) -> BuildResult<Value> {
        infer::check(&op, &self.input_types(inputs)?, 0, &ty)?;
        Ok(self.graph.push_node(Node { op, inputs: inputs.to_vec(), result: 0, ty }))
    }

    pub fn constant(&mut self, value: impl Into<Scalar>, ty: ValueType) -> BuildResult<Value> {
        self.push_typed(Op::Constant(value.into()), &[], ty)
    }

    pub fn unary(&mut self, op: UnaryOp, x: Value) -> BuildResult<Value> {
        self.push(Op::Unary(op), &[x])
    }

    pub fn binary(&mut self, op: BinaryOp, a: Value, b: Value) -> BuildResult<Value> {
        self.push(Op::Binary(op), &[a, b])
    }

    pub fn add(&mut self, a: Value, b: Value) -> BuildResult<Value> {
        self.binary(BinaryOp::Add, a, b)
    }

    pub fn sub(&mut self, a: Value, b: Value) -> BuildResult<Value> {
        self.binary(BinaryOp::Sub, a, b)
    }

    pub fn mul(&mut self, a: Value, b: Value) -> BuildResult<Value> {
        self.binary(BinaryOp::Mul, a, b)
    }

    pub fn div(&mut self, a: Value, b: Value) -> BuildResult<Value> {
        self.binary(BinaryOp::Div, a, b)
    }

    pub fn matmul(&mut self, a: Value, b: Value) -> BuildResult<Value> {
        self.push(Op::Matmul, &[a, b])
    }

    pub fn cast(&mut self, x: Value, dtype: DType) -> BuildResult<Value> {
        self.push(Op::Cast(dtype), &[x])
    }

    pub fn where_(&mut self, condition: Value, a: Value, b: Value) -> BuildResult<Value> {
        self.push(Op::Where, &[condition, a, b])
    }

    /// Reduces over `axes`, which may count from the end (`-1`).
    pub fn reduce(&mut self, op: ReduceOp, x: Value, axes: &[isize], keepdim: bool) -> BuildResult<Value> {
        let axes = self.axes(op.name(), x, axes)?;
        self.push(Op::Reduce { op, axes, keepdim }, &[x])
    }

    pub fn sum(&mut self, x: Value, axes: &[isize], keepdim: bool) -> BuildResult<Value> {
        self.reduce(ReduceOp::Sum, x, axes, keepdim)
    }

    pub fn mean(&mut self, x: Value, axes: &[isize], keepdim: bool) -> BuildResult<Value> {
        self.reduce(ReduceOp::Mean, x, axes, keepdim)
    }

    pub fn max(&mut self, x: Value, axes: &[isize], keepdim: bool) -> BuildResult<Value> {
        self.reduce(ReduceOp::Max, x, axes, keepdim)
    }

    pub fn reshape(&mut self, x: Value, shape: &[usize]) -> BuildResult<Value> {
        let shape = shape.iter().map(|&d| Dim::Const(d)).collect();
        self.push(Op::Reshape { shape }, &[x])
    }

    pub fn permute(&mut self, x: Value, perm: &[usize]) -> BuildResult<Value> {
        self.push(Op::Permute { perm: perm.to_vec() }, &[x])
    }

    /// Swaps two dims, which may count from the end.
    pub fn transpose(&mut self, x: Value, a: isize, b: isize) -> BuildResult<Value> {
        let rank = self.value_type(x)?.rank();
        let a = self.axis("permute", x, a)?;
        let b = self.axis("permute", x, b)?;
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(a, b);
        self.permute(x, &perm)
    }

    pub fn expand(&mut self, x: Value, shape: &[usize]) -> BuildResult<Value> {
        let shape = shape.iter().map(|&d| Dim::Const(d)).collect();
        self.push(Op::Expand { shape }, &[x])
    }

    pub fn softmax(&mut self, x: Value, dim: isize) -> BuildResult<Value> {
        let dim = self.axis("softmax", x, dim)?;
        self.push(Op::Softmax { dim }, &[x])
    }

    /// Max pooling: the maxima and the flat index of each, as two nodes of one op.
    pub fn max_pool2d(&mut self, x: Value, window: Window2d) -> BuildResult<(Value, Value)> {
        let values = self.push_result(Op::MaxPool2d(window.clone()), &[x], 0)?;
        let indices = self.push_result(Op::MaxPool2d(window), &[x], 1)?;
        Ok((values, indices))
    }

    fn axis(&self, op: &'static str, x: Value, axis: isize) -> BuildResult<usize> {
        let rank = self.value_type(x)?.rank();
        normalize_axis(axis, rank).map_err(|e| InferError { op, message: e.0 }.into())
    }

    fn axes(&self, op: &'static str, x: Value, axes: &[isize]) -> BuildResult<Vec<usize>> {
        axes.iter().map(|&a| self.axis(op, x, a)).collect()
    }

    /// Marks `value` as an output of the graph.
    pub fn output(&mut self, value: Value) -> BuildResult<()> {
        if !self.graph.contains(value) {
            return Err(BuildError::UnknownValue(value));
        }
        self.graph.outputs.push(value);
        Ok(())
    }

    /// The graph built so far, to read without finishing.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn finish(self) -> Graph {
        self.graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ValueDef;

    #[test]
    fn builds_a_typed_mlp() {
        let mut b = GraphBuilder::new("mlp");
        let x = b.param(DType::F32, &[256, 1024]);
        let w = b.param(DType::F32, &[1024, 4096]);
        let h = b.matmul(x, w).unwrap();
        let y = b.unary(UnaryOp::GeluTanh, h).unwrap();
        b.output(y).unwrap();
        let g = b.finish();
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.value_type(y).unwrap(), &ValueType::of(DType::F32, &[256, 4096]));
        assert_eq!(g.nodes[1].inputs, vec![h]);
        assert_eq!(x.def(), ValueDef::Param(0));
        assert_eq!(g.params[1].name, "arg1");
    }

    #[test]
    fn bad_nodes_are_refused_with_the_reason() {
        let mut b = GraphBuilder::new("f");
        let x = b.param(DType::F32, &[8, 16]);
        let w = b.param(DType::F32, &[12, 4]);
        let e = b.matmul(x, w).unwrap_err();
        assert_eq!(
            e.to_string(),
            "matmul: cannot multiply f32[8,16] by f32[12,4]: the inner dimensions (16 and 12) must match"
        );
        assert!(b.graph().nodes.is_empty());
        assert!(b.softmax(x, 2).is_err());
        assert!(b.named_param("1x", ValueType::of(DType::F32, &[])).is_err());
        assert!(b.named_param("arg0", ValueType::of(DType::F32, &[])).is_err());
    }

    #[test]
    fn negative_axes_count_from_the_end() {
        let mut b = GraphBuilder::new("f");
        let x = b.param(DType::F32, &[2, 3, 4]);
        let s = b.sum(x, &[-1], true).unwrap();
        assert_eq!(b.value_type(s).unwrap(), &ValueType::of(DType::F32, &[2, 3, 1]));
        let t = b.transpose(x, 0, -1).unwrap();
        assert_eq!(b.value_type(t).unwrap(), &ValueType::of(DType::F32, &[4, 3, 2]));
    }

    #[test]
    fn max_pool_gives_two_nodes() {
        let mut b = GraphBuilder::new("pool");
        let x = b.param(DType::F32, &[1, 3, 8, 8]);
        let window = Window2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };
        let (values, indices) = b.max_pool2d(x, window).unwrap();
        let g = b.finish();
        assert_eq!(g.value_type(values).unwrap(), &ValueType::of(DType::F32, &[1, 3, 4, 4]));
        assert_eq!(g.value_type(indices).unwrap(), &ValueType::of(DType::I64, &[1, 3, 4, 4]));
        assert_eq!(g.nodes[1].result, 1);
    }
}
