//! What the scheduler does with each node: fuse it into a kernel (pointwise or reduction),
//! treat it as a view of a buffer, or run it through the eager kernels (with the reason).

use ignis_ir::shape::DimValue;
use ignis_ir::{DType, Graph, Node, Op, ReduceOp};
use ignis_kernels_gen::cpu::{supports_binary, supports_unary};

#[derive(Clone, Debug, PartialEq)]
pub enum Class {
    /// Elementwise: inlined into its consumers or stored by a kernel.
    Pointwise,
    /// A reduction over `axes` of its first input (composites included).
    Reduction { axes: Vec<usize> },
    /// A new layout over the same storage (reshape, permute, expand, slice).
    View,
    /// Runs through the eager kernels.
    Extern(String),
}

fn kernel_dtype(d: DType) -> bool {
    matches!(d, DType::F32 | DType::BF16 | DType::F16 | DType::Bool)
}

fn float_dtype(d: DType) -> bool {
    matches!(d, DType::F32 | DType::BF16 | DType::F16)
}

pub fn classify(graph: &Graph, node: &Node) -> Class {
    let input = |i: usize| graph.value_type(node.inputs[i]).expect("inputs are defined");
    let any_zero = node.ty.shape.iter().any(|d| d.known() == Some(0))
        || node
            .inputs
            .iter()
            .any(|&v| graph.value_type(v).is_some_and(|t| t.shape.iter().any(|d| d.known() == Some(0))));
    if matches!(node.op, Op::Reshape { .. } | Op::Permute { .. } | Op::Expand { .. } | Op::Slice { .. }) {
        return Class::View;
    }
    let extern_ = |why: &str| Class::Extern(why.to_string());
    if any_zero {
        return extern_("a dim of size 0");
    }
    if !kernel_dtype(node.ty.dtype) {
        return Class::Extern(format!("result dtype {}", node.ty.dtype));
    }
    // An f64 value may enter a kernel only to be rounded to f32 (a learning rate or
    // another scalar of the host's): kernels compute in f32, and this cast is the one op
    // whose f32 result is exactly what eager computes from the f64.
    let f64_to_f32 = matches!(node.op, Op::Cast(DType::F32)) && input(0).dtype == DType::F64;
    if let Some(v) = node.inputs.iter().find(|&&v| !kernel_dtype(graph.value_type(v).unwrap().dtype))
        && !f64_to_f32
    {
        return Class::Extern(format!("input dtype {}", graph.value_type(*v).unwrap().dtype));
    }
    match &node.op {
        Op::Constant(_) => Class::Pointwise,
        Op::Unary(u) => {
            let x = input(0).dtype;
            let ok = match u {
                ignis_ir::UnaryOp::LogicalNot => x == DType::Bool,
                _ => float_dtype(x),
            };
            if !supports_unary(u) {
                Class::Extern(format!("{} has no generated code", u.name()))
            } else if !ok {
                Class::Extern(format!("{} of {x}", u.name()))
            } else {
                Class::Pointwise
            }
        }
        Op::Binary(b) => {
            let (x, y) = (input(0).dtype, input(1).dtype);
            let compute = b.compute_dtype(DType::promote(x, y));
            let ok = if b.is_logical() { true } else { float_dtype(compute) };
            if !supports_binary(b) {
                Class::Extern(format!("{} has no generated code", b.name()))
            } else if !ok {
                Class::Extern(format!("{} computes in {compute}", b.name()))
            } else {
                Class::Pointwise
            }
        }
        Op::Where => {
            if input(0).dtype == DType::Bool {
                Class::Pointwise
            } else {
                extern_("where on a non-bool condition")
            }
        }
        Op::Cast(_) => Class::Pointwise,
        Op::Reduce { op, axes, .. } => match op {
            ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod
                if float_dtype(input(0).dtype) && !axes.is_empty() =>
            {
                Class::Reduction { axes: axes.clone() }
            }
            _ => Class::Extern(format!("{} over {:?} of {}", op.name(), axes, input(0).dtype)),
        },
        Op::Var { axes, .. } | Op::LogSumExp { axes, .. } if float_dtype(input(0).dtype) && !axes.is_empty() => {
            Class::Reduction { axes: axes.clone() }
        }
        Op::Softmax { dim } | Op::LogSoftmax { dim } if float_dtype(input(0).dtype) => {
            Class::Reduction { axes: vec![*dim] }
        }
        Op::LayerNorm { axes, .. } | Op::RmsNorm { axes, .. }
            if node.inputs.iter().all(|&v| float_dtype(graph.value_type(v).unwrap().dtype)) =>
        {
            let rank = input(0).rank();
            Class::Reduction { axes: (rank - axes..rank).collect() }
        }
        op => Class::Extern(format!("{} runs through the eager kernels", op.name())),
    }
}
