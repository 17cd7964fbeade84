//! Splitting a joint forward+backward graph into a forward and a backward program.
//!
//! The joint graph is what tracing a segment and then its backward rules produces: forward
//! nodes, and backward nodes that depend on the gradient parameters. The forward program
//! computes the forward outputs plus what the backward needs (the saved values); the
//! backward program takes the saved values and the output gradients and computes the
//! input gradients.
//!
//! Saved values are chosen by a minimum cut on saved bytes (see `choose_saved`): a value
//! the backward needs is either saved (the forward writes it out) or, when it is a chain
//! of cheap elementwise and movement ops over values that are saved anyway, recomputed in
//! the backward.

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

/// Which values the forward saves, and which nodes the backward recomputes instead: a
/// minimum cut on saved bytes.
///
/// The network has, for every forward value an input of the backward depends on, an edge
/// `in -> out` whose capacity is the value's size in bytes (what saving it costs), and
/// infinite edges along the graph's data flow (`u.out -> v.in`) and from every needed
/// value to the sink. Nodes the backward cannot recompute (anything but cheap elementwise
/// and movement ops: matmuls, reductions, normalizations) hang off the source, as do the
/// graph's parameters, which cost nothing to keep (their tensors are alive anyway). A
/// minimum cut then saves the cheapest set of values from which the backward can recompute
/// everything else it needs.
fn choose_saved(joint: &Graph, needs: &[Value]) -> (Vec<Value>, Vec<NodeId>) {
    use petgraph::graph::{DiGraph, NodeIndex};
    use petgraph::visit::EdgeRef;
    const INFINITE: u64 = 1 << 60;
    if needs.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let cheap = |op: &Op| {
        matches!(
            op,
            Op::Unary(_)
                | Op::Binary(_)
                | Op::Cast(_)
                | Op::Where
                | Op::Constant(_)
                | Op::Reshape { .. }
                | Op::Permute { .. }
                | Op::Expand { .. }
                | Op::Slice { .. }
        )
    };
    // The values involved: what the backward needs and everything those depend on.
    let mut involved: Vec<Value> = Vec::new();
    let mut seen: HashSet<Value> = HashSet::new();
    let mut stack: Vec<Value> = needs.to_vec();
    while let Some(v) = stack.pop() {
        if !seen.insert(v) {
            continue;
        }
        involved.push(v);
        if let Some(id) = v.node() {
            stack.extend(joint.node(id).inputs.iter().copied());
        }
    }
    let mut network: DiGraph<(), u64> = DiGraph::new();
    let source = network.add_node(());
    let sink = network.add_node(());
    let mut ends: HashMap<Value, (NodeIndex, NodeIndex)> = HashMap::new();
    for &v in &involved {
        let (input, output) = (network.add_node(()), network.add_node(()));
        let ty = joint.value_type(v).expect("a value of the joint graph");
        let bytes: u64 =
            ty.shape.iter().map(|d| ignis_ir::shape::DimValue::known(*d).unwrap_or(1) as u64).product::<u64>()
                * ty.dtype.size() as u64;
        match v.node() {
            None => {
                network.add_edge(source, input, INFINITE);
                network.add_edge(input, output, 0);
            }
            Some(id) => {
                // Saving costs the value's bytes (doubled, so that a value the backward reads
                // directly can cost one less: between cuts of equal size, saving what is read
                // beats recomputing it). Empty values still cost a little.
                let direct = u64::from(needs.contains(&v));
                network.add_edge(input, output, (2 * bytes).max(2) - direct);
                if !cheap(&joint.node(id).op) {
                    network.add_edge(source, input, INFINITE);
                }
            }
        }
        ends.insert(v, (input, output));
    }
    for &v in &involved {
        if let Some(id) = v.node() {
            for u in &joint.node(id).inputs {
                network.add_edge(ends[u].1, ends[&v].0, INFINITE);
            }
        }
    }
    for v in needs {
        network.add_edge(ends[v].1, sink, INFINITE);
    }
    let (_, flows) = petgraph::algo::dinics(&network, source, sink);
    // What the source still reaches through edges with room left is its side of the cut.
    let mut reached = vec![false; network.node_count()];
    let mut stack = vec![source];
    reached[source.index()] = true;
    while let Some(n) = stack.pop() {
        for edge in network.edges_directed(n, petgraph::Direction::Outgoing) {
            if flows[edge.id().index()] < *edge.weight() && !reached[edge.target().index()] {
                reached[edge.target().index()] = true;
                stack.push(edge.target());
            }
        }
        for edge in network.edges_directed(n, petgraph::Direction::Incoming) {
            if flows[edge.id().index()] > 0 && !reached[edge.source().index()] {
                reached[edge.source().index()] = true;
                stack.push(edge.source());
            }
        }
    }
    // From each needed value: a parameter or a cut value crosses; anything else is
    // recomputed from what crosses.
    let mut saved: Vec<Value> = Vec::new();
    let mut recomputed: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<Value> = needs.to_vec();
    let mut visited: HashSet<Value> = HashSet::new();
    while let Some(v) = stack.pop() {
        if !visited.insert(v) {
            continue;
        }
        let (input, output) = ends[&v];
        let crosses = v.node().is_none() || (reached[input.index()] && !reached[output.index()]);
        if crosses {
            saved.push(v);
        } else {
            let id = v.node().expect("parameters always cross");
            recomputed.insert(id);
            stack.extend(joint.node(id).inputs.iter().copied());
        }
    }
    // Saved values in graph order (parameters first), so programs read predictably.
    saved.sort_by_key(|v| match v.def() {
        ValueDef::Param(p) => (0, p),
        ValueDef::Node(id) => (1, id.index()),
    });
    let mut recomputed: Vec<NodeId> = recomputed.into_iter().collect();
    recomputed.sort();
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
        assert_eq!(p.forward.outputs.len(), 1 + p.saved);
        // tanh(x * w) is cheap to rebuild from the inputs, which cost nothing to keep: only
        // inputs cross.
        assert_eq!(p.saved_params.len(), p.saved, "{}", p.backward);
    }

    #[test]
    fn cheap_functions_of_inputs_are_recomputed_not_saved() {
        // The backward needs exp(x)^2: from x (an input, free to keep) it is two cheap ops.
        let mut b = GraphBuilder::new("joint");
        let x = b.param(DType::F32, &[1024]);
        let g = b.param(DType::F32, &[1024]);
        let e = b.unary(UnaryOp::Exp, x).unwrap();
        let e2 = b.mul(e, e).unwrap();
        let y = b.unary(UnaryOp::Sin, e2).unwrap();
        let gx = b.mul(g, e2).unwrap();
        b.output(y).unwrap();
        b.output(gx).unwrap();
        let graph = b.finish();
        let p = partition(&graph, &[y], &[1], &[gx]);
        assert_eq!(p.saved, 1, "only x crosses:\n{}", p.backward);
        assert_eq!(p.saved_params, vec![(0, 0)]);
        assert!(p.backward.nodes.iter().any(|n| n.op == Op::Unary(UnaryOp::Exp)), "{}", p.backward);
    }

    #[test]
    fn the_cut_saves_a_small_statistic_rather_than_a_large_activation() {
        // y = x - mean(x) over rows; the backward needs y. Saving the [64, 1] mean and
        // recomputing y from x is cheaper than saving the [64, 256] y.
        let mut b = GraphBuilder::new("joint");
        let x = b.param(DType::F32, &[64, 256]);
        let g = b.param(DType::F32, &[64, 256]);
        let mean = b.mean(x, &[1], true).unwrap();
        let y = b.sub(x, mean).unwrap();
        let out = b.unary(UnaryOp::Exp, y).unwrap();
        let gx = b.mul(g, y).unwrap();
        b.output(out).unwrap();
        b.output(gx).unwrap();
        let graph = b.finish();
        let p = partition(&graph, &[out], &[1], &[gx]);
        let saved_types: Vec<String> = p.backward.params[..p.saved].iter().map(|q| q.ty.to_string()).collect();
        assert_eq!(saved_types, vec!["f32[64,256]", "f32[64,1]"], "x (free) and the mean:\n{}", p.backward);
    }
}
