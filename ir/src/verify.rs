//! The verifier: checks a graph's invariants and reports every violation it finds.
//!
//! A graph is valid when its parameter names are distinct identifiers, each node uses only
//! parameters and values of earlier nodes (in a DAG stored in order, being defined earlier is
//! SSA dominance), each node has the inputs its op takes and the type inference gives, and
//! every output is defined. Passes run it between stages in tests and debug builds.

use crate::graph::{Graph, NodeId, Value, ValueDef, ValueType, is_param_name};
use crate::infer;
use crate::text::{node_line, value_name};
use std::fmt;

/// One violated invariant, located by the text of the node (or the part of the signature)
/// that breaks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The node at fault, if a node is.
    pub node: Option<NodeId>,
    /// Where, in text form: a node's line, `param %x` or `return`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Checks `graph`; `Err` holds every problem found, in graph order.
pub fn verify(graph: &Graph) -> Result<(), Vec<VerifyError>> {
    let mut errors = Vec::new();
    check_params(graph, &mut errors);
    for id in graph.node_ids() {
        if let Err(message) = check_node(graph, id) {
            errors.push(VerifyError { node: Some(id), location: node_line(graph, id), message });
        }
    }
    for &output in &graph.outputs {
        if !graph.contains(output) {
            errors.push(VerifyError {
                node: None,
                location: "return".into(),
                message: format!("returns {output}, which the graph does not define"),
            });
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn check_params(graph: &Graph, errors: &mut Vec<VerifyError>) {
    for (i, param) in graph.params.iter().enumerate() {
        let location = format!("param %{}", param.name);
        if !is_param_name(&param.name) {
            errors.push(VerifyError {
                node: None,
                location,
                message: "a parameter's name is letters, digits and `_`, not starting with a digit".into(),
            });
        } else if graph.params[..i].iter().any(|p| p.name == param.name) {
            errors.push(VerifyError { node: None, location, message: "another parameter has this name".into() });
        }
    }
}

fn check_node(graph: &Graph, id: NodeId) -> Result<(), String> {
    let node = graph.node(id);
    for &input in &node.inputs {
        check_defined_before(graph, id, input)?;
    }
    let types: Vec<&ValueType> = node.inputs.iter().filter_map(|&v| graph.value_type(v)).collect();
    infer::check(&node.op, &types, node.result, &node.ty).map_err(|e| e.to_string())
}

fn check_defined_before(graph: &Graph, id: NodeId, input: Value) -> Result<(), String> {
    match input.def() {
        ValueDef::Param(i) if i >= graph.params.len() => {
            Err(format!("uses {input}, but the graph has {} parameters", graph.params.len()))
        }
        ValueDef::Node(n) if n >= id => Err(format!("uses {} before it is defined", value_name(graph, input))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::GraphBuilder;
    use crate::dtype::DType;
    use crate::graph::Node;
    use crate::op::{Op, UnaryOp};

    fn small_graph() -> Graph {
        let mut b = GraphBuilder::new("f");
        let x = b.named_param("x", ValueType::of(DType::F32, &[4, 8])).unwrap();
        let y = b.unary(UnaryOp::Exp, x).unwrap();
        b.output(y).unwrap();
        b.finish()
    }

    #[test]
    fn a_built_graph_is_valid() {
        assert_eq!(verify(&small_graph()), Ok(()));
    }

    #[test]
    fn reports_each_problem_with_the_node_text() {
        let mut g = small_graph();
        // A use of a later value, a wrong type and a missing output, all at once.
        g.nodes[0].inputs = vec![NodeId::new(1).value()];
        g.push_node(Node {
            op: Op::Matmul,
            inputs: vec![Value::param(0)],
            result: 0,
            ty: ValueType::of(DType::F32, &[4]),
        });
        g.outputs.push(NodeId::new(9).value());
        let errors = verify(&g).unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "%0 = exp %1 : f32[4,8]: uses %1 before it is defined",
                "%1 = matmul %x : f32[4]: matmul: expected 2 inputs, got 1",
                "return: returns %9, which the graph does not define",
            ]
        );
        assert_eq!(errors[0].node, Some(NodeId::new(0)));
    }

    #[test]
    fn type_mismatches_are_reported() {
        let mut g = small_graph();
        g.nodes[0].ty = ValueType::of(DType::F16, &[4, 8]);
        let errors = verify(&g).unwrap_err();
        assert_eq!(errors[0].to_string(), "%0 = exp %x : f16[4,8]: exp: the result is f32[4,8], not f16[4,8]");
    }

    #[test]
    fn duplicate_and_bad_param_names_are_reported() {
        let mut g = small_graph();
        g.push_param("x", ValueType::of(DType::F32, &[]));
        g.push_param("9", ValueType::of(DType::F32, &[]));
        let errors = verify(&g).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].location, "param %x");
        assert_eq!(errors[1].location, "param %9");
    }
}
