//! A graph run as tensor ops: each node through the differentiable tensor op that records
//! it, so autograd sees every step. This is how a compiled segment's backward runs when the
//! backward itself is being recorded (`create_graph`): second derivatives then follow the
//! graph's dependence on its inputs, as they do eagerly.

use crate::tensor::Tensor;
use ignis_ir::{BinaryOp, Graph, Op, ReduceOp, ValueDef};

/// Runs the nodes of `graph` that `graph.outputs` need, with `params` as its parameters
/// (`None` for parameters no needed node reads).
pub(crate) fn replay_as_ops(graph: &Graph, params: &[Option<Tensor>]) -> Vec<Tensor> {
    let mut needed = vec![false; graph.nodes.len()];
    let mut stack: Vec<usize> = graph.outputs.iter().filter_map(|v| v.node()).map(|n| n.index()).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        stack.extend(graph.nodes[i].inputs.iter().filter_map(|v| v.node()).map(|n| n.index()));
    }
    let mut values: Vec<Option<Tensor>> = vec![None; graph.nodes.len()];
    let value = |values: &Vec<Option<Tensor>>, v: ignis_ir::Value| -> Tensor {
        match v.def() {
            ValueDef::Param(p) => params[p].clone().unwrap_or_else(|| panic!("replay: parameter {p} is needed")),
            ValueDef::Node(id) => values[id.index()].clone().expect("nodes run in order"),
        }
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        if !needed[i] {
            continue;
        }
        let inputs: Vec<Tensor> = node.inputs.iter().map(|&v| value(&values, v)).collect();
        let shape = ignis_runtime::interpret::concrete_shape(&node.ty);
        values[i] = Some(apply(&node.op, &inputs, node.ty.dtype, &shape));
    }
    graph.outputs.iter().map(|&v| value(&values, v)).collect()
}

fn axes(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize).collect()
}

/// One node as the tensor op that records it.
fn apply(op: &Op, x: &[Tensor], dtype: ignis_ir::DType, shape: &[usize]) -> Tensor {
    match op {
        Op::Constant(value) => Tensor::full(shape.to_vec(), *value, dtype),
        Op::Unary(u) => x[0].apply_unary(*u),
        Op::Binary(b) => {
            let (a, c) = (&x[0], &x[1]);
            match b {
                BinaryOp::Add => a.add(c),
                BinaryOp::Sub => a.sub(c),
                BinaryOp::Mul => a.mul(c),
                BinaryOp::Div => a.div(c),
                BinaryOp::Rem => a.rem(c),
                BinaryOp::Pow => a.pow(c),
                BinaryOp::Minimum => a.minimum(c),
                BinaryOp::Maximum => a.maximum(c),
                BinaryOp::Eq => a.eq(c),
                BinaryOp::Ne => a.ne(c),
                BinaryOp::Lt => a.lt(c),
                BinaryOp::Le => a.le(c),
                BinaryOp::Gt => a.gt(c),
                BinaryOp::Ge => a.ge(c),
                BinaryOp::LogicalAnd => a.logical_and(c),
                BinaryOp::LogicalOr => a.logical_or(c),
                BinaryOp::LogicalXor => a.logical_xor(c),
            }
        }
        Op::Where => x[0].where_(&x[1], &x[2]),
        Op::Cast(d) if *d == x[0].dtype() => x[0].contiguous_copy(),
        Op::Cast(d) => x[0].to_dtype(*d),
        Op::Reduce { op, axes: a, keepdim } => {
            let dims = axes(a);
            match op {
                ReduceOp::Sum => x[0].sum_dims(&dims, *keepdim),
                ReduceOp::Mean => x[0].mean_dims(&dims, *keepdim),
                ReduceOp::Prod => x[0].prod_dims(&dims, *keepdim),
                ReduceOp::Max => x[0].max_dims(&dims, *keepdim),
                ReduceOp::Min => x[0].min_dims(&dims, *keepdim),
                ReduceOp::ArgMax => x[0].argmax(dims[0], *keepdim),
                ReduceOp::ArgMin => x[0].argmin(dims[0], *keepdim),
                ReduceOp::Any => x[0].any_dims(&dims, *keepdim),
                ReduceOp::All => x[0].all_dims(&dims, *keepdim),
            }
        }
        Op::Var { axes: a, correction, keepdim } => x[0].var_dims(&axes(a), *correction, *keepdim),
        Op::LogSumExp { axes: a, keepdim } => x[0].logsumexp(&axes(a), *keepdim),
        Op::CumSum { dim } => x[0].cumsum(*dim as isize),
        Op::Reshape { .. } => x[0].reshape(shape.to_vec()),
        Op::Permute { perm } => x[0].permute(&axes(perm)),
        Op::Expand { .. } => x[0].expand(shape.to_vec()),
        Op::Slice { dim, start, len, step } => {
            let end = if *len == 0 { *start } else { start + (len - 1) * step + 1 };
            x[0].slice(*dim as isize, *start as isize, end as isize, *step as isize)
        }
        Op::Pad { pads, mode, value } => x[0].pad_dims(pads, *mode, value.to_f64()),
        Op::Concat { dim } => Tensor::cat(&x.iter().collect::<Vec<_>>(), *dim as isize),
        Op::Flip { dims } => x[0].flip(&axes(dims)),
        Op::Roll { shifts, dims } => x[0].roll(shifts, &axes(dims)),
        Op::Matmul => x[0].matmul(&x[1]),
        Op::IndexSelect { dim } => x[0].index_select(*dim as isize, &x[1]),
        Op::Gather { dim } => x[0].gather(*dim as isize, &x[1]),
        Op::Scatter { dim } => x[0].scatter(*dim as isize, &x[1], &x[2]),
        Op::ScatterAdd { dim } => x[0].scatter_add(*dim as isize, &x[1], &x[2]),
        Op::IndexAdd { dim } => x[0].index_add(*dim as isize, &x[1], &x[2]),
        Op::OneHot { classes } => x[0].one_hot(*classes),
        Op::Embedding => x[0].embedding(&x[1]),
        Op::Softmax { dim } => x[0].softmax(*dim as isize),
        Op::LogSoftmax { dim } => x[0].log_softmax(*dim as isize),
        Op::LayerNorm { axes: n, eps } => {
            let normalized = &shape[shape.len() - n..];
            x[0].layer_norm(normalized, x.get(1), x.get(2), eps.to_f64())
        }
        Op::RmsNorm { axes: n, eps } => {
            let normalized = &shape[shape.len() - n..];
            x[0].rms_norm(normalized, x.get(1), eps.to_f64())
        }
        other => panic!(
            "create_graph through compiled code: the op {} has no differentiable replay yet; \
             run this function eagerly for higher-order gradients",
            other.name()
        ),
    }
}
