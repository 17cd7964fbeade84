//! Extraction: the cheapest node of every class, by the cost of the tree below it.
//!
//! Classes are settled in order of increasing cost (Knuth's generalization of Dijkstra's
//! algorithm to and-or graphs): a node becomes a candidate for its class once every child
//! class is settled, costing its own cost (`cost::node_cost`) plus its children's, and a class
//! is settled by the first candidate that comes off the queue. Costs only grow from child to
//! parent, so that candidate is the class's cheapest, and a chosen node's children are always
//! settled before it: the choice never runs around a cycle. Each node is costed once, where
//! egg's `Extractor` costs every node again on every pass until nothing changes, which takes
//! as many passes as the graph is deep.

use super::analysis::EGraph;
use super::cost::node_cost;
use super::language::TensorLang;
use egg::{Id, Language};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// The chosen node of each class that has a finite choice.
pub struct Extraction {
    best: HashMap<Id, (f64, TensorLang)>,
}

/// A node of `class` (its index among the class's nodes) that can be chosen at `cost`.
struct Candidate {
    cost: f64,
    class: Id,
    node: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Reversed, so that the heap pops the cheapest; ties go to the earlier class and node.
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.cost.total_cmp(&self.cost).then_with(|| (other.class, other.node).cmp(&(self.class, self.node)))
    }
}

impl Extraction {
    /// Chooses over a rebuilt e-graph (whose nodes have canonical children).
    pub fn new(egraph: &EGraph) -> Extraction {
        // For each class, the nodes that use it; for each node, how many child classes are
        // not settled yet.
        let mut users: HashMap<Id, Vec<(Id, usize)>> = HashMap::new();
        let mut waiting: HashMap<(Id, usize), usize> = HashMap::new();
        let mut queue = BinaryHeap::new();
        for class in egraph.classes() {
            for (index, node) in class.nodes.iter().enumerate() {
                let mut children: Vec<Id> = node.children().iter().map(|&c| egraph.find(c)).collect();
                children.sort_unstable();
                children.dedup();
                if children.is_empty() {
                    queue.push(Candidate { cost: node_cost(egraph, class, node), class: class.id, node: index });
                    continue;
                }
                waiting.insert((class.id, index), children.len());
                for child in children {
                    users.entry(child).or_default().push((class.id, index));
                }
            }
        }
        let mut best: HashMap<Id, (f64, TensorLang)> = HashMap::with_capacity(egraph.number_of_classes());
        while let Some(Candidate { cost, class, node }) = queue.pop() {
            if best.contains_key(&class) {
                continue;
            }
            best.insert(class, (cost, egraph[class].nodes[node].clone()));
            for &(user, index) in users.get(&class).into_iter().flatten() {
                let Some(left) = waiting.get_mut(&(user, index)) else { continue };
                *left -= 1;
                if *left > 0 || best.contains_key(&user) {
                    continue;
                }
                let user_class = &egraph[user];
                let user_node = &user_class.nodes[index];
                // Each use of a child counts: `x * x` reads x twice.
                let children: f64 = user_node.children().iter().map(|&c| best[&egraph.find(c)].0).sum();
                let cost = node_cost(egraph, user_class, user_node) + children;
                queue.push(Candidate { cost, class: user, node: index });
            }
        }
        Extraction { best }
    }

    /// The chosen node of `class`; `None` if it has no finite choice.
    pub fn node(&self, egraph: &EGraph, class: Id) -> Option<&TensorLang> {
        self.best.get(&egraph.find(class)).map(|(_, node)| node)
    }

    /// The tree cost of the chosen node of `class`.
    #[cfg(test)]
    pub fn cost(&self, egraph: &EGraph, class: Id) -> Option<f64> {
        self.best.get(&egraph.find(class)).map(|(cost, _)| *cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::analysis::TensorAnalysis;
    use crate::rewrite::{convert, rules};
    use egg::Runner;

    #[test]
    fn the_cheapest_node_wins_and_deep_chains_are_costed_once() {
        // exp(...exp(x * 1)...) 2000 deep: x * 1 is x, and each exp costs the same.
        let mut text = String::from("graph @f(%x: f32[4]) -> (f32[4]) {\n  %0 = constant 1.0 : f32[]\n");
        text.push_str("  %1 = mul %x, %0 : f32[4]\n");
        for i in 2..2002 {
            text.push_str(&format!("  %{i} = exp %{} : f32[4]\n", i - 1));
        }
        text.push_str("  return %2001\n}\n");
        let graph = ignis_ir::parse(&text).unwrap();
        let loaded = convert::to_egraph(&graph).unwrap();
        let runner: Runner<TensorLang, TensorAnalysis> =
            Runner::new(TensorAnalysis::default()).with_egraph(loaded.egraph).run(rules::all());
        let egraph = &runner.egraph;
        let extraction = Extraction::new(egraph);
        let product = loaded.node_classes[1];
        assert_eq!(extraction.node(egraph, product), Some(&TensorLang::Param(crate::rewrite::language::ParamIndex(0))));
        assert_eq!(extraction.cost(egraph, product), Some(0.0));
        // Each exp of 4 floats: 16 bytes in, 16 out, 0.25 * 16 flops * 4 elements.
        let root = extraction.cost(egraph, loaded.roots[0]).unwrap();
        assert_eq!(root, 2000.0 * (32.0 + 16.0));
    }
}
