//! The extraction cost model: bytes moved plus weighted flops.
//!
//! A node that computes costs the bytes it writes (its result) plus the bytes it reads (each
//! operand's full logical size, so a broadcast operand counts as large as it is seen) plus
//! `FLOP_WEIGHT` times its flops: one per element for cheap elementwise ops and casts, more
//! for divisions and square roots (`SLOW_FLOPS`) and transcendental functions
//! (`TRANSCENDENTAL_FLOPS`), one per input element for reductions, `2·M·N·K` for a matmul.
//! Views (reshape, permute, expand, slice) move nothing and cost `VIEW_COST`; a splat constant
//! is folded into its users' kernels and costs `CONSTANT_COST`; parameters and attributes
//! cost nothing. Every node that computes or views costs more than zero, so removing a node
//! is always a gain. A symbolic dim counts as `SYMBOLIC_DIM`.
//!
//! Extraction (`extract`) sums these costs over the tree below a node, so a shared operand
//! counts once per use; the pass measures the chosen graph with `graph_cost`, which counts
//! each node once, and keeps the input when that is not cheaper.

use super::analysis::{ClassData, EGraph};
use super::language::{TensorLang, Term};
use egg::{EClass, Language};
use ignis_ir::{BinaryOp, Dim, Graph, Op, UnaryOp, ValueType};

/// The cost of one flop in bytes: machines move about one byte per several flops.
pub const FLOP_WEIGHT: f64 = 0.25;
/// Flops per element of a division, remainder, reciprocal or square root.
pub const SLOW_FLOPS: f64 = 4.0;
/// Flops per element of exp, log, tanh, erf, pow and the activations built on them.
pub const TRANSCENDENTAL_FLOPS: f64 = 16.0;
/// What a view costs: almost nothing, but not nothing.
pub const VIEW_COST: f64 = 1.0;
/// What a splat constant costs.
pub const CONSTANT_COST: f64 = 1.0;
/// The size assumed for a symbolic dim.
pub const SYMBOLIC_DIM: usize = 64;

/// How a node spends its time.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Work {
    View,
    Splat,
    Elementwise { flops_per_element: f64 },
    Reduce,
    Matmul,
}

fn elements(ty: &ValueType) -> f64 {
    ty.shape.iter().map(|d| if let Dim::Const(n) = d { *n } else { SYMBOLIC_DIM } as f64).product()
}

fn bytes(ty: &ValueType) -> f64 {
    elements(ty) * ty.dtype.size() as f64
}

fn unary_flops(op: &UnaryOp) -> f64 {
    use UnaryOp::*;
    match op {
        Recip | Sqrt | Rsqrt => SLOW_FLOPS,
        Exp
        | Exp2
        | Log
        | Log2
        | Log1p
        | Expm1
        | Sin
        | Cos
        | Tan
        | Tanh
        | Erf
        | Sigmoid
        | Gelu
        | GeluTanh
        | Silu
        | Softplus
        | Mish
        | Elu { .. } => TRANSCENDENTAL_FLOPS,
        _ => 1.0,
    }
}

fn binary_flops(op: BinaryOp) -> f64 {
    match op {
        BinaryOp::Div | BinaryOp::Rem => SLOW_FLOPS,
        BinaryOp::Pow => TRANSCENDENTAL_FLOPS,
        _ => 1.0,
    }
}

fn work_of_op(op: &Op) -> Work {
    match op {
        Op::Reshape { .. } | Op::Permute { .. } | Op::Expand { .. } | Op::Slice { .. } => Work::View,
        Op::Constant(_) => Work::Splat,
        Op::Unary(u) => Work::Elementwise { flops_per_element: unary_flops(u) },
        Op::Binary(b) => Work::Elementwise { flops_per_element: binary_flops(*b) },
        Op::Reduce { .. } | Op::Var { .. } | Op::LogSumExp { .. } | Op::CumSum { .. } => Work::Reduce,
        Op::Matmul => Work::Matmul,
        // Everything else, modelled or not, as one pass over its data.
        _ => Work::Elementwise { flops_per_element: 1.0 },
    }
}

/// The cost of one node doing `work` from `inputs` to `output`, not counting its operands.
fn local_cost(work: Work, output: &ValueType, inputs: &[&ValueType]) -> f64 {
    let moved = || bytes(output) + inputs.iter().map(|t| bytes(t)).sum::<f64>();
    match work {
        Work::View => VIEW_COST,
        Work::Splat => CONSTANT_COST,
        Work::Elementwise { flops_per_element } => moved() + FLOP_WEIGHT * flops_per_element * elements(output),
        Work::Reduce => moved() + FLOP_WEIGHT * inputs.first().map_or(0.0, |t| elements(t)),
        Work::Matmul => {
            // Inner dim: the last of the left operand (a 1-d left operand is its only dim).
            let inner = inputs.first().and_then(|a| a.shape.last()).map_or(1.0, |d| match d {
                Dim::Const(n) => *n as f64,
                Dim::Sym(_) => SYMBOLIC_DIM as f64,
            });
            moved() + FLOP_WEIGHT * 2.0 * elements(output) * inner
        }
    }
}

/// The cost of a graph: every node that an output depends on, once.
pub fn graph_cost(graph: &Graph) -> f64 {
    let live = ignis_ir::algo::live_nodes(graph);
    let mut total = 0.0;
    for (node, live) in graph.nodes.iter().zip(live) {
        if !live {
            continue;
        }
        let inputs: Vec<&ValueType> = node.inputs.iter().filter_map(|&v| graph.value_type(v)).collect();
        total += local_cost(work_of_op(&node.op), &node.ty, &inputs);
    }
    total
}

/// The cost of `node`, one of the nodes of `class`, not counting its operands.
pub fn node_cost(egraph: &EGraph, class: &EClass<TensorLang, ClassData>, node: &TensorLang) -> f64 {
    let Ok(Term::Op { op, .. }) = node.term(|id| egraph[id].data.attribute()) else {
        // Parameters and attributes cost nothing (a node that does not type never comes here).
        return 0.0;
    };
    let Some(output) = class.data.ty() else { return f64::INFINITY };
    let inputs: Vec<&ValueType> = node.children().iter().filter_map(|&c| egraph[c].data.ty()).collect();
    local_cost(work_of_op(&op), output, &inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ignis_ir::DType;

    #[test]
    fn views_are_nearly_free_and_transcendentals_dear() {
        let t = ValueType::of(DType::F32, &[1024]);
        let add = local_cost(work_of_op(&Op::Binary(BinaryOp::Add)), &t, &[&t, &t]);
        let exp = local_cost(work_of_op(&Op::Unary(UnaryOp::Exp)), &t, &[&t]);
        let neg = local_cost(work_of_op(&Op::Unary(UnaryOp::Neg)), &t, &[&t]);
        let view = local_cost(work_of_op(&Op::Permute { perm: vec![0] }), &t, &[&t]);
        // add: 3 * 4096 bytes + 0.25 * 1024 flops.
        assert_eq!(add, 3.0 * 4096.0 + 256.0);
        assert!(exp > neg && add > neg && neg > view && view > 0.0);
    }

    #[test]
    fn a_matmul_counts_two_flops_per_multiply_add() {
        let a = ValueType::of(DType::F32, &[8, 16]);
        let b = ValueType::of(DType::F32, &[16, 4]);
        let out = ValueType::of(DType::F32, &[8, 4]);
        let bytes_moved = (128.0 + 64.0 + 32.0) * 4.0;
        assert_eq!(local_cost(Work::Matmul, &out, &[&a, &b]), bytes_moved + 0.25 * 2.0 * 32.0 * 16.0);
    }
}
