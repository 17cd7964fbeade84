//! Between graphs and e-graphs.
//!
//! A graph goes in node by node, so values it shares stay shared and identical nodes become
//! one class; each output's class is a root. A choice of one e-node per class (an extraction)
//! comes back out as a graph: the classes the outputs need, children first, each node rebuilt
//! with the type inference gives it (never a type copied from the e-graph) and identical nodes
//! built once. The nodes keep the input's order where the data flow allows, so that a dump of
//! the result reads like the dump of the input.

use super::RewriteError;
use super::analysis::{EGraph, TensorAnalysis, result_type};
use super::language::{TensorLang, Term};
use egg::{Id, Language};
use ignis_ir::{Graph, Node, NodeId, Op, Value, ValueDef, ValueType};
use std::collections::{HashMap, HashSet};

/// A graph loaded into an e-graph.
pub struct Loaded {
    pub egraph: EGraph,
    /// The class of each output.
    pub roots: Vec<Id>,
    /// The class of each node, by node index.
    pub node_classes: Vec<Id>,
}

/// The e-graph of `graph`.
pub fn to_egraph(graph: &Graph) -> Result<Loaded, RewriteError> {
    let params = graph.params.iter().map(|p| p.ty.clone()).collect();
    let mut egraph = EGraph::new(TensorAnalysis { params, problems: Vec::new() });
    let mut classes: HashMap<Value, Id> = HashMap::with_capacity(graph.params.len() + graph.nodes.len());
    for (index, value) in graph.param_values().enumerate() {
        classes.insert(value, egraph.add(TensorLang::Param(super::language::ParamIndex(index))));
    }
    let mut node_classes = Vec::with_capacity(graph.nodes.len());
    for id in graph.node_ids() {
        let node = graph.node(id);
        let inputs: Vec<Id> = node.inputs.iter().map(|v| class_of(&classes, *v)).collect::<Result<_, _>>()?;
        let enode = TensorLang::from_graph_op(&node.op, node.result, &node.ty, &inputs, |attribute| {
            egraph.add(TensorLang::Attr(attribute))
        });
        let class = egraph.add(enode);
        classes.insert(id.value(), class);
        node_classes.push(class);
    }
    let roots = graph.outputs.iter().map(|v| class_of(&classes, *v)).collect::<Result<_, _>>()?;
    egraph.rebuild();
    if !egraph.analysis.problems.is_empty() {
        return Err(RewriteError::Analysis(std::mem::take(&mut egraph.analysis.problems)));
    }
    Ok(Loaded { egraph, roots, node_classes })
}

fn class_of(classes: &HashMap<Value, Id>, value: Value) -> Result<Id, RewriteError> {
    classes.get(&value).copied().ok_or_else(|| RewriteError::Rebuild(format!("{value} is used before it is defined")))
}

/// The graph that computes `roots` with the node `chosen` gives for each class; its name,
/// parameters and output order are `original`'s. `position` gives the index of the input's
/// first node in a class, if it had one there.
pub fn to_graph<'a>(
    original: &Graph,
    egraph: &EGraph,
    roots: &[Id],
    chosen: impl Fn(Id) -> Option<&'a TensorLang>,
    position: impl Fn(Id) -> Option<usize>,
) -> Result<Graph, RewriteError> {
    let mut graph = Graph { name: original.name.clone(), params: original.params.clone(), ..Graph::new("") };
    let mut values: HashMap<Id, Value> = HashMap::new();
    let mut built: HashMap<Node, Value> = HashMap::new();
    // The input position of each built node's class, where it had one.
    let mut positions: Vec<Option<usize>> = Vec::new();
    for &root in roots {
        let root = egraph.find(root);
        // Children first, without recursion: a class is pushed back under its children, and
        // built when it comes up again with all of them built.
        let mut stack: Vec<(Id, bool)> = vec![(root, false)];
        let mut on_path: HashSet<Id> = HashSet::new();
        while let Some((class, children_done)) = stack.pop() {
            if values.contains_key(&class) {
                continue;
            }
            let node = chosen(class).ok_or_else(|| RewriteError::Rebuild(format!("no node was chosen for {class}")))?;
            if !children_done {
                if !on_path.insert(class) {
                    return Err(RewriteError::Rebuild(format!("the chosen nodes form a cycle through {node}")));
                }
                stack.push((class, true));
                for &child in node.children().iter().rev() {
                    let child = egraph.find(child);
                    if !values.contains_key(&child) && egraph[child].data.attribute().is_none() {
                        stack.push((child, false));
                    }
                }
                continue;
            }
            on_path.remove(&class);
            let value = build_node(&mut graph, &mut built, egraph, node, |id| values.get(&egraph.find(id)).copied())?;
            if value.node().is_some_and(|id| id.index() == positions.len()) {
                positions.push(position(class));
            }
            values.insert(class, value);
        }
        graph.outputs.push(values[&root]);
    }
    Ok(reorder(graph, positions))
}

/// `graph`, whose nodes are in a topological order, with its nodes in the topological order
/// closest to `positions`: a node with a position goes there as far as the data flow allows,
/// a node without one just after its latest operand or, with only parameters as operands,
/// just before its first user; ties keep the present order.
fn reorder(graph: Graph, positions: Vec<Option<usize>>) -> Graph {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = graph.nodes.len();
    let mut waiting_on = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.nodes.iter().enumerate() {
        for input in node.inputs.iter().filter_map(|v| v.node()) {
            waiting_on[i] += 1;
            users[input.index()].push(i);
        }
    }
    let mut places = positions;
    for i in 0..n {
        if places[i].is_none() {
            places[i] = graph.nodes[i].inputs.iter().filter_map(|v| v.node()).filter_map(|j| places[j.index()]).max();
        }
    }
    for i in (0..n).rev() {
        if places[i].is_none() {
            places[i] = users[i].iter().filter_map(|&u| places[u]).min();
        }
    }
    let places: Vec<usize> = places.into_iter().map(|p| p.unwrap_or(0)).collect();
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> =
        (0..n).filter(|&i| waiting_on[i] == 0).map(|i| Reverse((places[i], i))).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, i))) = ready.pop() {
        order.push(i);
        for &user in &users[i] {
            waiting_on[user] -= 1;
            if waiting_on[user] == 0 {
                ready.push(Reverse((places[user], user)));
            }
        }
    }
    let mut renamed = vec![None; n];
    for (new, &old) in order.iter().enumerate() {
        renamed[old] = Some(NodeId::new(new).value());
    }
    let rename = |v: Value| match v.node() {
        Some(id) => renamed[id.index()].expect("every node is ordered"),
        None => v,
    };
    let mut nodes: Vec<Option<Node>> = graph.nodes.into_iter().map(Some).collect();
    let reordered = order
        .iter()
        .map(|&old| {
            let node = nodes[old].take().expect("each node once");
            Node { inputs: node.inputs.iter().map(|&v| rename(v)).collect(), ..node }
        })
        .collect();
    Graph { nodes: reordered, outputs: graph.outputs.iter().map(|&v| rename(v)).collect(), ..graph }
}

/// Adds the graph node for `node` (or finds the identical one already built) and returns its value.
fn build_node(
    graph: &mut Graph,
    built: &mut HashMap<Node, Value>,
    egraph: &EGraph,
    node: &TensorLang,
    value_of: impl Fn(Id) -> Option<Value>,
) -> Result<Value, RewriteError> {
    let term = node.term(|id| egraph[id].data.attribute()).map_err(RewriteError::Rebuild)?;
    let (op, result, declared, inputs) = match term {
        Term::Param(index) => return Ok(Value::param(index)),
        Term::Attribute(a) => {
            return Err(RewriteError::Rebuild(format!("the attribute {a} stands where a value must")));
        }
        Term::Op { op, result, declared, inputs } => (op, result, declared, inputs),
    };
    let inputs: Vec<Value> = inputs
        .iter()
        .map(|&id| value_of(id).ok_or_else(|| RewriteError::Rebuild(format!("{node}: an operand was not built"))))
        .collect::<Result<_, _>>()?;
    let types: Vec<&ValueType> = inputs.iter().filter_map(|&v| graph.value_type(v)).collect();
    let ty = result_type(&op, &types, result, declared).map_err(|e| RewriteError::Rebuild(format!("{node}: {e}")))?;
    let node = Node { op, inputs, result, ty };
    if let Some(&value) = built.get(&node) {
        return Ok(value);
    }
    let value = graph.push_node(node.clone());
    built.insert(node, value);
    Ok(value)
}

/// Keeps each output as fresh as the input graph had it: an output that was computed, not a
/// parameter or a view of one, must not become an alias of a parameter's storage, and two
/// outputs that were different values must stay different values. Where rewriting made
/// them so, the output becomes a copy (`cast` to its own dtype, the IR's spelling of a copy).
pub fn keep_outputs_distinct(original: &Graph, rewritten: &mut Graph) {
    let mut seen: HashMap<Value, Value> = HashMap::new();
    for (k, &before) in original.outputs.iter().enumerate() {
        let after = rewritten.outputs[k];
        let became_alias = !aliases_param(original, before) && aliases_param(rewritten, after);
        let became_shared = seen.get(&after).is_some_and(|&other| other != before);
        if (became_alias || became_shared)
            && let Some(ty) = rewritten.value_type(after).cloned()
        {
            let copy = Node { op: Op::Cast(ty.dtype), inputs: vec![after], result: 0, ty };
            rewritten.outputs[k] = rewritten.push_node(copy);
        }
        seen.entry(rewritten.outputs[k]).or_insert(before);
    }
}

/// Whether `value` is a parameter or a view (reshape, permute, expand, slice) of one.
fn aliases_param(graph: &Graph, value: Value) -> bool {
    let mut value = value;
    loop {
        match value.def() {
            ValueDef::Param(_) => return true,
            ValueDef::Node(id) => {
                let node = graph.node(id);
                match node.op {
                    Op::Reshape { .. } | Op::Permute { .. } | Op::Expand { .. } | Op::Slice { .. } => {
                        value = node.inputs[0]
                    }
                    _ => return false,
                }
            }
        }
    }
}
