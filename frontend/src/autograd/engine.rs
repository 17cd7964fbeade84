//! The backward pass: reverse topological order by dependency counting.

use super::grad_mode::NoGradGuard;
use super::{BackwardFn, Edge};
use crate::tensor::{Tensor, TensorImpl};
use ignis_ir::{DType, Dims};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// How many backward walks are running on this thread (a rule may start another).
    static WALKING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether a backward pass is running on this thread.
pub(crate) fn is_walking() -> bool {
    WALKING.with(|w| w.get() > 0)
}

/// A vector-Jacobian rule of a node with several outputs: from `(slot, gradient)` pairs of
/// the outputs that received one, one optional gradient per edge.
pub(crate) type SlotsBackwardFn = Box<dyn Fn(&[(u32, Tensor)]) -> Vec<Option<Tensor>> + Send + Sync>;

pub(crate) enum Rule {
    /// One output (slot 0).
    Single(BackwardFn),
    /// Outputs told apart by slot: a compiled segment's backward program.
    Slots(SlotsBackwardFn),
}

/// Where a node's gradients go, and the shape and dtype each must have.
pub(crate) struct Wiring {
    pub(crate) edges: Vec<Option<Edge>>,
    pub(crate) inputs: Vec<(Dims, DType)>,
}

/// One recorded op (or one compiled segment): its backward rule and where each input's
/// gradient goes.
pub struct Node {
    name: &'static str,
    /// Creation order; later nodes run first among those ready, as in PyTorch.
    sequence: u64,
    /// Set when the node is made, or (for a compiled segment) when the segment has run.
    wiring: OnceLock<Wiring>,
    /// Taken (and dropped) after it runs unless the graph is retained.
    rule: Mutex<Option<Rule>>,
    retained: Mutex<Option<Weak<TensorImpl>>>,
}

impl Node {
    pub(crate) fn new(
        name: &'static str,
        edges: Vec<Option<Edge>>,
        inputs: Vec<(Dims, DType)>,
        rule: BackwardFn,
    ) -> Arc<Node> {
        let node = Node::unwired(name);
        let _ = node.wiring.set(Wiring { edges, inputs });
        *node.rule.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rule::Single(rule));
        Arc::new(node)
    }

    /// A node whose edges and rule come later (`wire`).
    pub(crate) fn unwired(name: &'static str) -> Node {
        Node {
            name,
            sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            wiring: OnceLock::new(),
            rule: Mutex::new(None),
            retained: Mutex::new(None),
        }
    }

    /// Gives an unwired node its edges and a rule over slots.
    pub(crate) fn wire(&self, wiring: Wiring, rule: SlotsBackwardFn) {
        assert!(self.wiring.set(wiring).is_ok(), "{}: wired twice", self.name);
        *self.rule.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rule::Slots(rule));
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn retain_for(&self, t: &Tensor) {
        *self.retained.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(&t.0));
    }

    /// Whether the rule is still there (it is dropped after a backward without
    /// `retain_graph`).
    pub(crate) fn has_rule(&self) -> bool {
        self.rule.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Drops the rule (and the tensors it saved).
    pub(crate) fn release(&self) {
        self.rule.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn wiring(&self) -> &Wiring {
        self.wiring.get().unwrap_or_else(|| {
            panic!(
                "backward: {} belongs to a compiled segment whose backward graph was already used or never built \
                 (call backward once per forward, or pass retain_graph=true)",
                self.name
            )
        })
    }

    pub(crate) fn edges(&self) -> &[Option<Edge>] {
        &self.wiring().edges
    }

    fn key(node: &Arc<Node>) -> usize {
        Arc::as_ptr(node) as usize
    }
}

struct Ready(u64, Arc<Node>);
impl PartialEq for Ready {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

fn accumulate_leaf(leaf: &Arc<TensorImpl>, grad: Tensor, create_graph: bool) {
    let grad = if create_graph || grad.pending_value().is_some() {
        // A traced gradient is a fresh value of the graph: nobody else holds its storage.
        grad
    } else if grad.storage().is_unique() && grad.is_contiguous() {
        grad.detach()
    } else {
        // The gradient may share storage with a tensor the user holds; `.grad` gets its own.
        grad.detach().contiguous_copy()
    };
    let mut slot = leaf.grad.lock().unwrap_or_else(|e| e.into_inner());
    *slot = Some(match slot.take() {
        Some(old) if create_graph => old.add(&grad),
        Some(old) => crate::no_grad(|| old.add(&grad)),
        None => grad,
    });
}

/// Computes gradients of `root` with respect to every leaf that requires grad, adding
/// them into the leaves' `.grad()`.
pub fn backward(root: &Tensor, grad: Option<&Tensor>, retain_graph: bool, create_graph: bool) {
    let grad = match grad {
        Some(g) => {
            assert_eq!(
                g.shape(),
                root.shape(),
                "backward: the gradient {} does not match the output {}",
                g.describe(),
                root.describe()
            );
            g.clone()
        }
        None => {
            assert_eq!(
                root.numel(),
                1,
                "backward: a gradient can be implied only for outputs with one element, got {}; pass one to backward_with",
                root.describe()
            );
            root.ones_like()
        }
    };
    let Some(Edge::Node(root_node, slot)) = super::edge_of(root) else {
        assert!(
            root.requires_grad(),
            "backward: the tensor does not require grad and has no grad_fn (was it computed under no_grad, or from tensors without requires_grad?)"
        );
        accumulate_leaf(&root.0, grad, create_graph);
        return;
    };
    let _mode = NoGradGuard::set(create_graph);
    // A recorded backward refers back into the forward graph, so it must stay (as in PyTorch).
    let retain_graph = retain_graph || create_graph;
    run(vec![(root_node, slot, grad)], retain_graph, &mut |end, g| match end {
        End::Leaf(leaf) => accumulate_leaf(&leaf, g, create_graph),
        End::Lifted(..) => unreachable!("lifted edges are followed in a full backward"),
    });
}

/// Where a walk ends.
pub(crate) enum End {
    Leaf(Arc<TensorImpl>),
    /// A tensor lifted into a traced segment, by its parameter index.
    Lifted(usize),
}

/// Traces the backward of a segment: from gradients of some of its outputs (per-op nodes
/// recorded while tracing), the gradient reaching each lifted input, by parameter index.
/// The rules run on traced values, so their ops append to the segment's graph.
pub(crate) fn grads_of_lifted(roots: Vec<(Arc<Node>, Tensor)>) -> Vec<(usize, Tensor)> {
    let _mode = NoGradGuard::set(false);
    let mut found: Vec<(usize, Tensor)> = Vec::new();
    let roots = roots.into_iter().map(|(n, g)| (n, 0, g)).collect();
    // The rules stay: if tracing them ends the segment, the per-op nodes still serve.
    run_walk(roots, true, false, &mut |end, g| {
        let End::Lifted(param) = end else { unreachable!("traced nodes end at lifted inputs") };
        match found.iter_mut().find(|(p, _)| *p == param) {
            Some((_, acc)) => *acc = acc.add(&g),
            None => found.push((param, g)),
        }
    });
    found
}

/// The walk of a full backward: lifted edges lead on into the tensors they stand for.
fn run(roots: Vec<(Arc<Node>, u32, Tensor)>, retain_graph: bool, sink: &mut dyn FnMut(End, Tensor)) {
    run_walk(roots, retain_graph, true, sink)
}

/// Resolves an edge: a lifted tensor's own edge when `follow_lifted`.
fn resolve(edge: &Edge, follow_lifted: bool) -> Option<Edge> {
    match edge {
        Edge::Lifted(_, t) if follow_lifted => super::edge_of(t),
        other => Some(other.clone()),
    }
}

fn run_walk(
    roots: Vec<(Arc<Node>, u32, Tensor)>,
    retain_graph: bool,
    follow_lifted: bool,
    sink: &mut dyn FnMut(End, Tensor),
) {
    struct Walking;
    impl Drop for Walking {
        fn drop(&mut self) {
            WALKING.with(|w| w.set(w.get() - 1));
        }
    }
    WALKING.with(|w| w.set(w.get() + 1));
    let _walking = Walking;
    // Count, for every reachable node, how many edges lead into it.
    let mut dependencies: HashMap<usize, usize> = HashMap::new();
    let mut stack: Vec<Arc<Node>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (node, _, _) in &roots {
        if seen.insert(Node::key(node)) {
            stack.push(node.clone());
        }
    }
    while let Some(node) = stack.pop() {
        for edge in node.edges().iter().flatten() {
            if let Some(Edge::Node(next, _)) = resolve(edge, follow_lifted) {
                *dependencies.entry(Node::key(&next)).or_insert(0) += 1;
                if seen.insert(Node::key(&next)) {
                    stack.push(next);
                }
            }
        }
    }

    let mut buffers: HashMap<usize, Vec<(u32, Tensor)>> = HashMap::new();
    let mut ready = BinaryHeap::new();
    for (node, slot, grad) in roots {
        add_into(buffers.entry(Node::key(&node)).or_default(), slot, grad);
        if dependencies.get(&Node::key(&node)).copied().unwrap_or(0) == 0 {
            ready.push(Ready(node.sequence, node));
        }
    }
    let mut queued = std::collections::HashSet::new();
    while let Some(Ready(_, node)) = ready.pop() {
        if !queued.insert(Node::key(&node)) {
            continue;
        }
        let incoming = buffers.remove(&Node::key(&node)).unwrap_or_default();
        let edges = node.edges();
        let grads: Vec<Option<Tensor>> = if incoming.is_empty() {
            vec![None; edges.len()]
        } else {
            if let Some(weak) = node.retained.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                && let Some(t) = weak.upgrade()
                && let Some((_, g)) = incoming.iter().find(|(s, _)| *s == 0)
            {
                *t.grad.lock().unwrap_or_else(|e| e.into_inner()) = Some(g.detach());
            }
            let mut slot = node.rule.lock().unwrap_or_else(|e| e.into_inner());
            let rule = slot.take().unwrap_or_else(|| {
                panic!(
                    "backward: trying to go through the graph of {} a second time, but its saved tensors were freed; \
                     pass retain_graph=true to the first backward_with",
                    node.name
                )
            });
            // Release the lock while the rule runs: a traced rule may flush its segment.
            drop(slot);
            let out = match &rule {
                Rule::Single(f) => {
                    let g = incoming.iter().find(|(s, _)| *s == 0).map(|(_, g)| g.clone());
                    match g {
                        Some(g) => f(&g),
                        None => vec![None; edges.len()],
                    }
                }
                Rule::Slots(f) => f(&incoming),
            };
            if retain_graph {
                *node.rule.lock().unwrap_or_else(|e| e.into_inner()) = Some(rule);
            }
            out
        };
        assert_eq!(
            grads.len(),
            edges.len(),
            "backward of {}: the rule returned the wrong number of gradients",
            node.name
        );
        for ((edge, g), (shape, _)) in edges.iter().zip(grads).zip(&node.wiring().inputs) {
            let Some(edge) = edge else { continue };
            if let Some(g) = &g {
                assert_eq!(
                    g.shape(),
                    shape.as_slice(),
                    "backward of {}: gradient {} does not match its input's shape",
                    node.name,
                    g.describe()
                );
            }
            match resolve(edge, follow_lifted) {
                None => {}
                Some(Edge::Leaf(leaf)) => {
                    if let Some(g) = g {
                        sink(End::Leaf(leaf), g);
                    }
                }
                Some(Edge::Lifted(param, _)) => {
                    if let Some(g) = g {
                        sink(End::Lifted(param), g);
                    }
                }
                Some(Edge::Node(next, next_slot)) => {
                    let key = Node::key(&next);
                    if let Some(g) = g {
                        add_into(buffers.entry(key).or_default(), next_slot, g);
                    }
                    let left = dependencies.get_mut(&key).expect("counted above");
                    *left -= 1;
                    if *left == 0 {
                        ready.push(Ready(next.sequence, next.clone()));
                    }
                }
            }
        }
    }
}

fn add_into(slots: &mut Vec<(u32, Tensor)>, slot: u32, g: Tensor) {
    match slots.iter_mut().find(|(s, _)| *s == slot) {
        Some((_, acc)) => *acc = acc.add(&g),
        None => slots.push((slot, g)),
    }
}
