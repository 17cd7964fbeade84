//! Define-by-run autograd: grad mode, graph nodes, and recording ops onto the tape.
//!
//! An op on tensors that require grad builds a `Node` holding its vector-Jacobian rule (a
//! closure over saved tensors, written in tensor ops) and edges to its inputs' nodes or
//! leaves. `backward` (in `engine`) walks those nodes in dependency order.

mod engine;
mod grad_mode;
pub mod gradcheck;
mod saved;

pub use engine::backward;
pub(crate) use engine::{Node, SlotsBackwardFn, Wiring, grads_of_lifted, is_walking};
pub use grad_mode::{NoGradGuard, enable_grad, is_grad_enabled, no_grad};
pub use gradcheck::{GradcheckOptions, gradcheck};
pub(crate) use saved::Saved;

use crate::tensor::{Tensor, TensorImpl};
use ignis_runtime::{Layout, Storage};
use std::sync::Arc;

/// A vector-Jacobian rule: from the gradient of the output, one optional gradient per input.
pub(crate) type BackwardFn = Box<dyn Fn(&Tensor) -> Vec<Option<Tensor>> + Send + Sync>;

/// Where a gradient goes next: into another node, or into a leaf's `.grad`.
#[derive(Clone)]
pub(crate) enum Edge {
    /// Output `slot` of a node.
    Node(Arc<Node>, u32),
    Leaf(Arc<TensorImpl>),
    /// A tensor lifted into the segment being traced, as parameter `param`: a full
    /// backward follows it into the tensor's own edge; a traced backward stops there.
    Lifted(usize, Tensor),
}

/// Whether an op on these inputs must record a node.
pub(crate) fn needs_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

pub(crate) fn edge_of(t: &Tensor) -> Option<Edge> {
    if let Some(node) = crate::compile::trace::op_node_of(t) {
        // A value of the segment being traced: its own op's node.
        Some(Edge::Node(node, 0))
    } else if let Some(node) = t.grad_fn() {
        Some(Edge::Node(node.clone(), t.0.grad_slot))
    } else if t.requires_grad() {
        Some(Edge::Leaf(t.0.clone()))
    } else {
        None
    }
}

/// Wraps an op's result, recording `backward` when any input requires grad.
///
/// `backward` must return one entry per input, in order; entries for inputs that do not
/// require grad may be `None` (they are ignored either way).
pub(crate) fn record(
    name: &'static str,
    inputs: &[&Tensor],
    storage: Storage,
    layout: Layout,
    backward: impl Fn(&Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
) -> Tensor {
    record_out(name, inputs, Tensor::from_parts(storage, layout), backward)
}

/// `record` for an op whose result (concrete or traced) is already a tensor.
pub(crate) fn record_out(
    name: &'static str,
    inputs: &[&Tensor],
    out: Tensor,
    backward: impl Fn(&Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
) -> Tensor {
    if !needs_grad(inputs) {
        return out;
    }
    if out.pending_value().is_some() {
        return crate::compile::trace::record_grad(name, inputs, out, Box::new(backward));
    }
    let edges = inputs.iter().map(|t| edge_of(t)).collect();
    let shapes = inputs.iter().map(|t| (t.dims(), t.dtype())).collect();
    let node = Node::new(name, edges, shapes, Box::new(backward));
    Tensor::with_grad_fn(&out, node, 0)
}

/// Whether backward rules must rebuild statistics from tensor ops rather than use what a
/// fused forward kernel saved: when the backward is recorded (`create_graph`), or traced.
pub(crate) fn recompute_saved() -> bool {
    is_grad_enabled() || crate::compile::is_tracing()
}
