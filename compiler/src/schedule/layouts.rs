//! The layout of every value, known before the program runs: parameters come with theirs,
//! views derive theirs exactly as the eager view ops do, every other value is a fresh
//! contiguous buffer. Kernels are generated for these strides.

use super::classify::Class;
use ignis_ir::{Graph, Op, Value, ValueDef};
use ignis_runtime::Layout;
use ignis_runtime::interpret::concrete_shape;

/// Per node, its layout; and whether it shares its input's storage (a view).
pub struct Layouts {
    pub params: Vec<Layout>,
    pub nodes: Vec<Layout>,
    pub is_view: Vec<bool>,
}

impl Layouts {
    pub fn of(&self, v: Value) -> &Layout {
        match v.def() {
            ValueDef::Param(p) => &self.params[p],
            ValueDef::Node(n) => &self.nodes[n.index()],
        }
    }
}

pub fn layouts(graph: &Graph, classes: &[Class], params: Vec<Layout>) -> Layouts {
    let mut out = Layouts { params, nodes: Vec::with_capacity(graph.nodes.len()), is_view: Vec::new() };
    for (i, node) in graph.nodes.iter().enumerate() {
        let shape = concrete_shape(&node.ty);
        let (layout, view) = match (&classes[i], &node.op) {
            (Class::View, op) => {
                let input = out.of(node.inputs[0]).clone();
                match op {
                    Op::Reshape { .. } => match input.reshape(&shape) {
                        Some(l) => (l, true),
                        None => (Layout::contiguous(&shape), false),
                    },
                    Op::Permute { perm } => (input.permute(perm), true),
                    Op::Expand { .. } => (input.expand(&shape).expect("expand was inferred"), true),
                    Op::Slice { dim, start, step, .. } => (input.slice(*dim, *start, shape[*dim], *step), true),
                    _ => unreachable!("views are the four movement ops"),
                }
            }
            _ => (Layout::contiguous(&shape), false),
        };
        out.nodes.push(layout);
        out.is_view.push(view);
    }
    out
}
