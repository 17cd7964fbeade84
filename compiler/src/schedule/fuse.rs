//! Grouping nodes into kernels.
//!
//! Pointwise nodes are inlined into their consumers unless they must be stored: graph
//! outputs, inputs of views and eager nodes, bf16 and f16 values (stored rounded, as eager rounds
//! them), and values used twice whose recomputation would cost more than a load.
//! Every stored pointwise node and every reduction then joins the newest kernel that
//! computes one of its inputs, when the kernel's loops fit it and its inputs are ready
//! by then, or starts a kernel of its own. Every refused fusion is logged with its reason.

use super::build::{Context, KernelBuilder, Space};
use super::classify::Class;
use ignis_ir::{Graph, NodeId, Op, UnaryOp, ValueDef};
use ignis_runtime::interpret::concrete_shape;

pub enum Planned {
    Kernel(Box<KernelBuilder>),
    Node(NodeId),
}

/// Which pointwise nodes are stored rather than inlined.
pub fn materialized(graph: &Graph, classes: &[Class]) -> Vec<bool> {
    let n = graph.nodes.len();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.nodes.iter().enumerate() {
        for v in &node.inputs {
            if let ValueDef::Node(p) = v.def()
                && !users[p.index()].contains(&i)
            {
                users[p.index()].push(i);
            }
        }
    }
    let mut out = vec![false; n];
    for v in &graph.outputs {
        if let Some(p) = v.node() {
            out[p.index()] = true;
        }
    }
    for i in 0..n {
        if classes[i] != Class::Pointwise {
            continue;
        }
        let node = &graph.nodes[i];
        let feeds_buffer_user = users[i].iter().any(|&u| matches!(classes[u], Class::View | Class::Extern(_)));
        // Constants are inlined already rounded to their dtype (`build.rs`).
        let half = matches!(node.ty.dtype, ignis_ir::DType::BF16 | ignis_ir::DType::F16)
            && !matches!(node.op, Op::Constant(_));
        let shared = users[i].len() >= 2 && inline_cost(graph, classes, i, &out) > 4;
        if feeds_buffer_user || half || shared {
            out[i] = true;
        }
    }
    out
}

/// Ops in the inlined tree of node `i` (transcendental ones count more).
fn inline_cost(graph: &Graph, classes: &[Class], i: usize, stored: &[bool]) -> usize {
    let node = &graph.nodes[i];
    let own = match &node.op {
        Op::Unary(u) if !matches!(u, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Square) => 4,
        Op::Constant(_) => 0,
        _ => 1,
    };
    own + node
        .inputs
        .iter()
        .filter_map(|v| v.node())
        .filter(|p| classes[p.index()] == Class::Pointwise && !stored[p.index()])
        .map(|p| inline_cost(graph, classes, p.index(), stored))
        .sum::<usize>()
}

/// The kernels and eager nodes of a graph, in execution order.
pub fn group(
    graph: &Graph,
    cx_parts: (&[Class], &super::layouts::Layouts, &[bool]),
    machine: super::Machine,
    log: &mut Vec<String>,
) -> Result<Vec<Planned>, String> {
    let (classes, layouts, materialized) = cx_parts;
    let mut planned: Vec<Planned> = Vec::new();
    let mut produced_at: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        let id = NodeId::new(i);
        let fused = match &classes[i] {
            Class::View => false,
            Class::Extern(why) => {
                log.push(format!("{id} = {}: runs eagerly: {why}", node.op.name()));
                false
            }
            Class::Pointwise => {
                if !materialized[i] {
                    continue;
                }
                true
            }
            Class::Reduction { .. } => true,
        };
        if !fused {
            produced_at[i] = Some(planned.len());
            planned.push(Planned::Node(id));
            continue;
        }
        let cx = Context { graph, classes, layouts, materialized, produced_at: &produced_at };
        // The kernels that compute an input of this node, newest first.
        let producers = producer_kernels(graph, classes, materialized, &planned, id);
        let mut joined = None;
        for k in producers {
            let Planned::Kernel(builder) = &planned[k] else { continue };
            let mut trial = builder.clone();
            match trial.add(&cx, id) {
                Ok(()) => {
                    joined = Some((k, trial));
                    break;
                }
                Err(why) => {
                    log.push(format!("{id} = {} not fused into {}: {why}", node.op.name(), builder.kernel.name))
                }
            }
        }
        let k = match joined {
            Some((k, trial)) => {
                planned[k] = Planned::Kernel(trial);
                k
            }
            None => {
                let space = match &classes[i] {
                    Class::Reduction { axes } => Space::Reduction {
                        shape: concrete_shape(graph.value_type(node.inputs[0]).unwrap()),
                        axes: axes.clone(),
                    },
                    _ => Space::Pointwise(concrete_shape(&node.ty)),
                };
                let name = format!("k{}_{}", planned.len(), node.op.name());
                let mut builder = KernelBuilder::new(name, space, planned.len());
                builder.add(&cx, id).map_err(|why| format!("{id} = {}: {why}", node.op.name()))?;
                planned.push(Planned::Kernel(Box::new(builder)));
                planned.len() - 1
            }
        };
        produced_at[i] = Some(k);
    }
    for p in planned.iter_mut() {
        if let Planned::Kernel(b) = p
            && machine == super::Machine::Cpu
            && let Some(n) = lone_composite(graph, classes, materialized, b)
        {
            log.push(format!(
                "{n} = {}: nothing fused with it; its hand-written kernel (16-lane AVX-512) beats a \
                 generated one (4 lanes)",
                graph.node(n).op.name()
            ));
            *p = Planned::Node(n);
        }
    }
    Ok(planned)
}

/// A kernel that is one softmax or normalization reading buffers only: the eager kernel
/// does the same memory traffic with wider vectors.
fn lone_composite(graph: &Graph, classes: &[Class], materialized: &[bool], b: &KernelBuilder) -> Option<NodeId> {
    let [n] = b.members.as_slice() else { return None };
    let node = graph.node(*n);
    let composite =
        matches!(node.op, Op::Softmax { .. } | Op::LogSoftmax { .. } | Op::LayerNorm { .. } | Op::RmsNorm { .. });
    let reads_buffers = node.inputs.iter().all(|v| match v.node() {
        Some(p) => classes[p.index()] != Class::Pointwise || materialized[p.index()],
        None => true,
    });
    (composite && reads_buffers).then_some(*n)
}

/// Kernels holding a node whose value `id` reads, directly or through inlined nodes.
fn producer_kernels(
    graph: &Graph,
    classes: &[Class],
    materialized: &[bool],
    planned: &[Planned],
    id: NodeId,
) -> Vec<usize> {
    let mut sources = Vec::new();
    let mut stack: Vec<NodeId> = graph.node(id).inputs.iter().filter_map(|v| v.node()).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        if classes[n.index()] == Class::Pointwise && !materialized[n.index()] {
            stack.extend(graph.node(n).inputs.iter().filter_map(|v| v.node()));
        } else {
            sources.push(n);
        }
    }
    let mut kernels: Vec<usize> = planned
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Planned::Kernel(b) if sources.iter().any(|&s| b.contains(s))))
        .map(|(k, _)| k)
        .collect();
    kernels.reverse();
    kernels
}
