//! The backward pass: reverse topological order by dependency counting.

use super::grad_mode::NoGradGuard;
use super::{BackwardFn, Edge};
use crate::tensor::{Tensor, TensorImpl};
use ignis_ir::{DType, Dims};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// One recorded op: its backward rule and where each input's gradient goes.
pub struct Node {
    name: &'static str,
    /// Creation order; later nodes run first among those ready, as in PyTorch.
    sequence: u64,
    edges: Vec<Option<Edge>>,
    inputs: Vec<(Dims, DType)>,
    /// Taken (and dropped) after it runs unless the graph is retained.
    rule: Mutex<Option<BackwardFn>>,
    retained: Mutex<Option<Weak<TensorImpl>>>,
}

impl Node {
    pub(crate) fn new(
        name: &'static str,
        edges: Vec<Option<Edge>>,
        inputs: Vec<(Dims, DType)>,
        rule: BackwardFn,
    ) -> Arc<Node> {
        Arc::new(Node {
            name,
            sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            edges,
            inputs,
            rule: Mutex::new(Some(rule)),
            retained: Mutex::new(None),
        })
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
    let Some(root_node) = root.grad_fn().cloned() else {
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

    // Count, for every reachable node, how many edges lead into it.
    let mut dependencies: HashMap<usize, usize> = HashMap::new();
    let mut stack = vec![root_node.clone()];
    let mut seen = std::collections::HashSet::new();
    seen.insert(Node::key(&root_node));
    while let Some(node) = stack.pop() {
        for edge in node.edges.iter().flatten() {
            if let Edge::Node(next) = edge {
                *dependencies.entry(Node::key(next)).or_insert(0) += 1;
                if seen.insert(Node::key(next)) {
                    stack.push(next.clone());
                }
            }
        }
    }

    let mut buffers: HashMap<usize, Tensor> = HashMap::new();
    buffers.insert(Node::key(&root_node), grad);
    let mut ready = BinaryHeap::new();
    ready.push(Ready(root_node.sequence, root_node));
    while let Some(Ready(_, node)) = ready.pop() {
        let incoming = buffers.remove(&Node::key(&node));
        let grads: Vec<Option<Tensor>> = match &incoming {
            Some(g) => {
                if let Some(weak) = node.retained.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                    && let Some(t) = weak.upgrade()
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
                let out = rule(g);
                if retain_graph {
                    *slot = Some(rule);
                }
                out
            }
            None => vec![None; node.edges.len()],
        };
        assert_eq!(
            grads.len(),
            node.edges.len(),
            "backward of {}: the rule returned the wrong number of gradients",
            node.name
        );
        for ((edge, g), (shape, _)) in node.edges.iter().zip(grads).zip(&node.inputs) {
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
            match edge {
                Edge::Leaf(leaf) => {
                    if let Some(g) = g {
                        accumulate_leaf(leaf, g, create_graph);
                    }
                }
                Edge::Node(next) => {
                    let key = Node::key(next);
                    if let Some(g) = g {
                        let summed = match buffers.remove(&key) {
                            Some(acc) => acc.add(&g),
                            None => g,
                        };
                        buffers.insert(key, summed);
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
