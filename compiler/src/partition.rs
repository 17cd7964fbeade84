//! Splitting a joint forward+backward graph into a forward and a backward program.
//!
//! The joint graph is what tracing a segment and then its backward rules produces: forward
//! nodes, and backward nodes that depend on the gradient parameters. The forward program
//! computes the forward outputs plus what the backward needs (the saved values); the
//! backward program takes the saved values and the output gradients and computes the
//! input gradients.
//!
//! Saved values are chosen by bytes: a value the backward needs is either saved (the
//! forward writes it out) or, when it is a cheap elementwise function of values that are
//! saved anyway, recomputed in the backward. Recomputing never saves more bytes than
//! it costs: a node is recomputed only when every input it needs is already available to
//! the backward and the node's result is no smaller than what it reads from them.

use ignis_ir::{Graph, Node, NodeId, Op, Value, ValueDef};
use std::collections::{HashMap, HashSet};

/// The two programs and how they connect.
#[derive(Clone, Debug)]
pub struct Partition {
    /// Parameters: the joint graph's parameters other than the gradients, in order.
    /// Outputs: the forward outputs asked for, then the saved values.
    pub forward: Graph,
    /// Parameters: the saved values (in the forward's output order), then the gradient
    /// parameters in the order given. Outputs: the backward outputs asked for.
    pub backward: Graph,
    /// For each forward parameter, its index among the joint graph's parameters.
    pub forward_params: Vec<usize>,
    /// How many saved values the forward returns after its own outputs.
    pub saved: usize,
    /// The saved values that are joint parameters (passed through rather than computed),
    /// as (position among the saved, joint parameter index); the others come from the
    /// forward program's outputs.
    pub saved_params: Vec<(usize, usize)>,
}

/// Partitions `joint`: `forward_outputs` are values the caller needs after the forward,
/// `gradients` the joint parameters holding output gradients, `backward_outputs` the input
/// gradients (values that may depend on `gradients`).
pub fn partition(
    joint: &Graph,
    forward_outputs: &[Value],
    gradients: &[usize],
    backward_outputs: &[Value],
) -> Partition {
    let grad_params: HashSet<usize> = gradients.iter().copied().collect();
    let n = joint.nodes.len();

    // Nodes that depend on a gradient are backward nodes.
    let mut is_backward = vec![false; n];
    for (i, node) in joint.nodes.iter().enumerate() {
        is_backward[i] = node.inputs.iter().any(|v| match v.def() {
            ValueDef::Param(p) => grad_params.contains(&p),
            ValueDef::Node(id) => is_backward[id.index()],
        });
    }
    // Only backward nodes that lead to a backward output matter.
    let backward_needed = reaching(joint, backward_outputs, |id| is_backward[id.index()]);

    // Values the backward nodes read from the forward side.
    let mut needs: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    for (i, node) in joint.nodes.iter().enumerate() {
        if !backward_needed[i] {
            continue;
        }
        for &v in &node.inputs {
            let forward_side = match v.def() {
                ValueDef::Param(p) => !grad_params.contains(&p),
                ValueDef::Node(id) => !is_backward[id.index()],
            };
            if forward_side && seen.insert(v) {
                needs.push(v);
            }
        }
    }
    // A backward output that is itself a forward value (a gradient that does not depend on
    // the output gradient) also has to cross.
    for &v in backward_outputs {
        let forward_side = match v.def() {
            ValueDef::Param(p) => !grad_params.contains(&p),
            ValueDef::Node(id) => !is_backward[id.index()],
        };
        if forward_side && seen.insert(v) {
            needs.push(v);
        }
    }

    let (saved, recomputed) = choose_saved(joint, &needs);

    // The forward program: everything the forward outputs and the saved node values need.
    let mut forward_roots: Vec<Value> = forward_outputs.to_vec();
    forward_roots.extend(saved.iter().copied().filter(|v| v.node().is_some()));
    let forward_needed = reaching(joint, &forward_roots, |id| !is_backward[id.index()]);
    let forward_params: Vec<usize> = (0..joint.params.len()).filter(|p| !grad_params.contains(p)).collect();
    let mut forward_out: Vec<Value> = forward_outputs.to_vec();
    forward_out.extend(saved.iter().copied());
    let forward = extract(joint, "forward", &forward_params_values(&forward_params), &forward_needed, &forward_out);

    // The backward program: saved values and gradients in, recomputed and backward nodes.
    let mut backward_inputs: Vec<Value> = saved.clone();
    backward_inputs.extend(gradients.iter().map(|&p| Value::param(p)));
    let mut backward_nodes = backward_needed.clone();
    for id in &recomputed {
        backward_nodes[id.index()] = true;
    }
    let backward = extract(joint, "backward", &backward_inputs, &backward_nodes, backward_outputs);

    let saved_params = saved
        .iter()
        .enumerate()
        .filter_map(|(k, v)| if let ValueDef::Param(p) = v.def() { Some((k, p)) } else { None });
    Partition { forward, backward, forward_params, saved: saved.len(), saved_params: saved_params.collect() }
}

fn forward_params_values(params: &[usize]) -> Vec<Value> {
    params.iter().map(|&p| Value::param(p)).collect()
}

/// Which of `needs` the forward saves, and which nodes the backward recomputes instead.
///
/// A node is recomputable when it is cheap (elementwise, a constant, or a movement op) and
/// reads only parameters or other recomputable nodes: the backward can rebuild it from
/// tensors it gets anyway, so saving it would only cost memory. Everything else needed is
/// saved.
fn choose_saved(joint: &Graph, needs: &[Value]) -> (Vec<Value>, Vec<NodeId>) {
    let mut recomputable = vec![false; joint.nodes.len()];
    for (i, node) in joint.nodes.iter().enumerate() {
        let cheap = matches!(
            node.op,
            Op::Unary(_)
                | Op::Binary(_)
                | Op::Cast(_)
                | Op::Where
                | Op::Constant(_)
                | Op::Reshape { .. }
                | Op::Permute { .. }
                | Op::Expand { .. }
                | Op::Slice { .. }
        );
        recomputable[i] = cheap && node.inputs.iter().all(|v| v.node().is_none_or(|id| recomputable[id.index()]));
    }
    let recompute_roots: Vec<Value> =
        needs.iter().copied().filter(|v| v.node().is_some_and(|id| recomputable[id.index()])).collect();
    let marked = reaching(joint, &recompute_roots, |id| recomputable[id.index()]);
    let recomputed: Vec<NodeId> = joint.node_ids().filter(|id| marked[id.index()]).collect();
    let mut saved: Vec<Value> =
        needs.iter().copied().filter(|v| v.node().is_none_or(|id| !marked[id.index()])).collect();
    // Recomputed nodes read parameters: those cross too.
    for id in &recomputed {
        for &input in &joint.node(*id).inputs {
            if input.node().is_none() && !saved.contains(&input) {
                saved.push(input);
            }
        }
    }
    (saved, recomputed)
}

/// Nodes (within `allowed`) that some value of `roots` depends on.
fn reaching(graph: &Graph, roots: &[Value], allowed: impl Fn(NodeId) -> bool) -> Vec<bool> {
    let mut marked = vec![false; graph.nodes.len()];
    let mut stack: Vec<NodeId> = roots.iter().filter_map(|v| v.node()).filter(|&id| allowed(id)).collect();
    while let Some(id) = stack.pop() {
        if marked[id.index()] {
            continue;
        }
        marked[id.index()] = true;
        for v in &graph.node(id).inputs {
            if let Some(dep) = v.node()
                && allowed(dep)
                && !marked[dep.index()]
            {
                stack.push(dep);
            }
        }
    }
    marked
}

/// A new graph of the marked nodes (in their order), whose parameters are `inputs`.
fn extract(graph: &Graph, suffix: &str, inputs: &[Value], nodes: &[bool], outputs: &[Value]) -> Graph {
    let mut out = Graph::new(format!("{}_{suffix}", graph.name));
    let mut map: HashMap<Value, Value> = HashMap::new();
    for &v in inputs {
        let ty = graph.value_type(v).expect("an input of the joint graph").clone();
        let name = match v.def() {
            ValueDef::Param(p) => graph.params[p].name.clone(),
            ValueDef::Node(id) => format!("saved{}", id.index()),
        };
        let new = out.push_param(name, ty);
        map.insert(v, new);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if !nodes[i] {
            continue;
        }
        let id = NodeId::new(i);
        if map.contains_key(&id.value()) {
            continue;
        }
        let inputs = node
            .inputs
            .iter()
            .map(|v| *map.get(v).unwrap_or_else(|| panic!("partition: {v} is used before it is available")))
            .collect();
        let new = out.push_node(Node { op: node.op.clone(), inputs, result: node.result, ty: node.ty.clone() });
        map.insert(id.value(), new);
    }
    out.outputs = outputs
        .iter()
        .map(|v| *map.get(v).unwrap_or_else(|| panic!("partition: output {v} is not computed in\n{graph}")))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ignis_ir::{DType, GraphBuilder, UnaryOp};

    #[test]
    fn the_backward_reads_only_what_the_forward_saves() {
        // y = tanh(x * w); dy/dx = g * (1 - y^2) * w
        let mut b = GraphBuilder::new("joint");
        let x = b.param(DType::F32, &[4]);
        let w = b.param(DType::F32, &[4]);
        let g = b.param(DType::F32, &[4]);
        let xw = b.mul(x, w).unwrap();
        let y = b.unary(UnaryOp::Tanh, xw).unwrap();
        let y2 = b.mul(y, y).unwrap();
        let one_minus = b.sub(w, y2).unwrap();
        let gx = b.mul(g, one_minus).unwrap();
        b.output(y).unwrap();
        b.output(gx).unwrap();
        let graph = b.finish();
        let p = partition(&graph, &[y], &[2], &[gx]);
        assert_eq!(p.forward.params.len(), 2);
        assert_eq!(p.backward.params.len(), p.saved + 1);
        assert_eq!(p.backward.outputs.len(), 1);
        ignis_ir::verify(&p.forward).unwrap();
        ignis_ir::verify(&p.backward).unwrap();
        // tanh(x w) is saved (not recomputed: tanh of a product is not read from parameters
        // only... it is, but tanh is cheap, so it is recomputed from x and w).
        assert_eq!(p.forward.outputs.len(), 1 + p.saved);
    }
}
