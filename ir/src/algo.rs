//! Graph algorithms over the node DAG, carried by `petgraph`: topological order, users of
//! each value, liveness from the outputs, and dead-code elimination.
//!
//! A petgraph node index equals the `NodeId` index; an edge `a -> b` means node `b` reads
//! the value of node `a`. Parameters are not petgraph nodes: they have no producer.

use crate::graph::{Graph, NodeId, Value, ValueDef};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use std::collections::HashMap;

/// The data-flow DAG of `graph`'s nodes, one edge per use (repeated uses give parallel edges).
pub fn dataflow(graph: &Graph) -> DiGraph<NodeId, ()> {
    let mut dag = DiGraph::with_capacity(graph.nodes.len(), graph.nodes.len() * 2);
    for id in graph.node_ids() {
        dag.add_node(id);
    }
    for id in graph.node_ids() {
        for &input in &graph.node(id).inputs {
            if let ValueDef::Node(producer) = input.def() {
                dag.add_edge(NodeIndex::new(producer.index()), NodeIndex::new(id.index()), ());
            }
        }
    }
    dag
}

/// A node that takes part in a cycle, so no topological order exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the graph has a cycle through {0}")]
pub struct Cycle(pub NodeId);

/// The nodes in an order where each comes after the nodes it reads.
pub fn topological_order(graph: &Graph) -> Result<Vec<NodeId>, Cycle> {
    let dag = dataflow(graph);
    petgraph::algo::toposort(&dag, None)
        .map(|order| order.into_iter().map(|index| dag[index]).collect())
        .map_err(|cycle| Cycle(dag[cycle.node_id()]))
}

/// For each value, the nodes that read it, in node order (a node reading a value twice is
/// listed once). A side table: the graph itself stores only inputs.
pub fn users(graph: &Graph) -> HashMap<Value, Vec<NodeId>> {
    let mut users: HashMap<Value, Vec<NodeId>> = HashMap::new();
    for id in graph.node_ids() {
        for &input in &graph.node(id).inputs {
            let list = users.entry(input).or_default();
            if list.last() != Some(&id) {
                list.push(id);
            }
        }
    }
    users
}

/// Which nodes some output depends on, indexed by node.
pub fn live_nodes(graph: &Graph) -> Vec<bool> {
    let dag = dataflow(graph);
    let backwards = Reversed(&dag);
    let mut live = vec![false; graph.nodes.len()];
    let mut search = Dfs::empty(backwards);
    for output in graph.outputs.iter().filter_map(|v| v.node()) {
        if output.index() >= live.len() {
            continue;
        }
        search.move_to(NodeIndex::new(output.index()));
        while let Some(index) = search.next(backwards) {
            live[index.index()] = true;
        }
    }
    live
}

/// Removes the nodes no output depends on and renumbers the rest in their order. Returns
/// the map from each old node value to its new value (absent for removed nodes); parameters
/// are kept, as the signature is fixed.
pub fn eliminate_dead_code(graph: &mut Graph) -> HashMap<Value, Value> {
    let live = live_nodes(graph);
    let mut renamed = HashMap::new();
    let nodes = std::mem::take(&mut graph.nodes);
    for (index, mut node) in nodes.into_iter().enumerate() {
        if !live[index] {
            continue;
        }
        for input in &mut node.inputs {
            *input = renamed.get(input).copied().unwrap_or(*input);
        }
        let new = graph.push_node(node);
        renamed.insert(NodeId::new(index).value(), new);
    }
    for output in &mut graph.outputs {
        *output = renamed.get(output).copied().unwrap_or(*output);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn graph_with_dead_code() -> Graph {
        parse(
            "graph @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {
              %0 = exp %x : f32[4]
              %1 = mul %x, %y : f32[4]
              %2 = neg %1 : f32[4]
              %3 = add %0, %0 : f32[4]
              return %3
            }",
        )
        .unwrap()
    }

    fn value(n: usize) -> Value {
        NodeId::new(n).value()
    }

    #[test]
    fn topological_order_puts_producers_first() {
        let g = graph_with_dead_code();
        let order = topological_order(&g).unwrap();
        let position = |n: usize| order.iter().position(|&id| id == NodeId::new(n)).unwrap();
        assert_eq!(order.len(), 4);
        assert!(position(0) < position(3));
        assert!(position(1) < position(2));
    }

    #[test]
    fn a_cycle_is_reported() {
        let mut g = graph_with_dead_code();
        g.nodes[1].inputs = vec![value(2), value(2)];
        let cycle = topological_order(&g).unwrap_err();
        assert!([NodeId::new(1), NodeId::new(2)].contains(&cycle.0));
    }

    #[test]
    fn users_lists_each_reader_once() {
        let users = users(&graph_with_dead_code());
        assert_eq!(users[&Value::param(0)], vec![NodeId::new(0), NodeId::new(1)]);
        assert_eq!(users[&value(0)], vec![NodeId::new(3)]);
        assert!(!users.contains_key(&value(2)));
    }

    #[test]
    fn dead_nodes_are_removed_and_the_rest_renumbered() {
        let mut g = graph_with_dead_code();
        assert_eq!(live_nodes(&g), vec![true, false, false, true]);
        let renamed = eliminate_dead_code(&mut g);
        assert_eq!(renamed.get(&value(3)), Some(&value(1)));
        assert_eq!(renamed.get(&value(1)), None);
        assert_eq!(
            g.to_string(),
            "graph @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {\n  %0 = exp %x : f32[4]\n  %1 = add %0, %0 : f32[4]\n  return %1\n}\n"
        );
        assert_eq!(crate::verify::verify(&g), Ok(()));
    }
}
