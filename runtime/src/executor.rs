//! The graph interpreter: runs a graph's nodes in order through the eager kernels.
//!
//! This is the reference backend of compiled programs (as "aot_eager" is for
//! torch.compile): it computes exactly what eager mode computes, op by op, and frees each
//! intermediate value after its last use.

use crate::interpret::{Output, concrete_shape, eval};
use crate::storage::View;
use ignis_ir::{Graph, NodeId, ValueDef};

/// A graph prepared for repeated runs: the position of every value's last use.
pub struct Interpreter {
    graph: Graph,
    /// For each node, the values (node indices) that die after it runs.
    frees_after: Vec<Vec<usize>>,
}

impl Interpreter {
    pub fn new(graph: Graph) -> Interpreter {
        let n = graph.nodes.len();
        let mut last_use: Vec<Option<usize>> = vec![None; n];
        for (i, node) in graph.nodes.iter().enumerate() {
            for v in &node.inputs {
                if let ValueDef::Node(id) = v.def() {
                    last_use[id.index()] = Some(i);
                }
            }
        }
        let mut outputs = vec![false; n];
        for v in &graph.outputs {
            if let ValueDef::Node(id) = v.def() {
                outputs[id.index()] = true;
            }
        }
        let mut frees_after = vec![Vec::new(); n];
        for (value, last) in last_use.iter().enumerate() {
            if let Some(at) = last
                && !outputs[value]
            {
                frees_after[*at].push(value);
            }
        }
        Interpreter { graph, frees_after }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the graph on `params` (one per graph parameter) and returns its outputs.
    pub fn run(&self, params: &[Output]) -> Vec<Output> {
        self.run_observed(params, |_, _| {})
    }

    /// Like `run`, handing every node's result to `observe` as it is computed (the
    /// accuracy bisector compares them with a reference).
    pub fn run_observed(&self, params: &[Output], mut observe: impl FnMut(NodeId, &Output)) -> Vec<Output> {
        self.run_inspected(params, |id, out| observe(id, out))
    }

    /// Like `run_observed`, but `inspect` may replace a node's result before later nodes
    /// read it (to check that a tool finds an injected fault).
    pub fn run_inspected(&self, params: &[Output], mut inspect: impl FnMut(NodeId, &mut Output)) -> Vec<Output> {
        assert_eq!(
            params.len(),
            self.graph.params.len(),
            "run {}: expected {} inputs, got {}",
            self.graph.name,
            self.graph.params.len(),
            params.len()
        );
        let mut values: Vec<Option<Output>> = vec![None; self.graph.nodes.len()];
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let out = {
                let views: Vec<View> = node
                    .inputs
                    .iter()
                    .map(|v| {
                        let (s, l) = match v.def() {
                            ValueDef::Param(p) => &params[p],
                            ValueDef::Node(id) => {
                                values[id.index()].as_ref().expect("a value is used after its last use")
                            }
                        };
                        View::new(s, l)
                    })
                    .collect();
                eval(&node.op, node.result, &views, node.ty.dtype, &concrete_shape(&node.ty))
            };
            let mut out = out;
            inspect(NodeId::new(i), &mut out);
            values[i] = Some(out);
            for &dead in &self.frees_after[i] {
                values[dead] = None;
            }
        }
        self.graph
            .outputs
            .iter()
            .map(|v| match v.def() {
                ValueDef::Param(p) => params[p].clone(),
                ValueDef::Node(id) => values[id.index()].clone().expect("outputs are kept"),
            })
            .collect()
    }
}
