//! Finishing a kernel: keep the stores something reads, drop empty stages, merge loops
//! that every access walks contiguously, give pointwise kernels an inner loop (split when
//! one long loop would leave the other threads idle), and size the parallel grain.

use super::build::{KernelBuilder, Space};
use ignis_ir::kernel::{Access, Expr, Kernel, StageKind, Store};
use ignis_ir::{Graph, NodeId, Value};

/// Work (inner iterations) a parallel task should get at least.
const TASK_WORK: usize = 16 * 1024;

pub struct Finished {
    pub kernel: Kernel,
    /// The value behind each buffer parameter.
    pub buffers: Vec<Value>,
    /// The nodes the kernel writes.
    pub outputs: Vec<NodeId>,
    /// The nodes it computes (stored or not), for logs and tests.
    pub members: Vec<NodeId>,
    /// Outer points per parallel task.
    pub grain: usize,
}

pub fn finish(builder: KernelBuilder, graph: &Graph, needed: impl Fn(NodeId) -> bool) -> Finished {
    let KernelBuilder { mut kernel, space, members, mut buffers, stores, .. } = builder;
    let mut outputs = Vec::new();
    for candidate in stores {
        if !needed(candidate.node) {
            continue;
        }
        outputs.push(candidate.node);
        buffers.push(candidate.node.value());
        let buffer = kernel.add_buffer(graph.node(candidate.node).ty.dtype, Access::Write);
        let StageKind::Store(list) = &mut kernel.stages[candidate.stage].kind else { unreachable!() };
        list.push(Store { buffer, index: candidate.index, value: candidate.value });
    }
    drop_empty_stages(&mut kernel);
    kernel.outer = match &space {
        Space::Pointwise(shape) => shape.clone(),
        Space::Reduction { shape, axes } => (0..shape.len()).filter(|d| !axes.contains(d)).map(|d| shape[d]).collect(),
    };
    drop_unit_loops(&mut kernel);
    collapse_outer(&mut kernel);
    collapse_inner(&mut kernel);
    if matches!(space, Space::Pointwise(_)) {
        innermost_to_inner(&mut kernel);
    }
    let work = kernel.inner_points().max(1);
    let grain = TASK_WORK.div_ceil(work).max(1);
    Finished { kernel, buffers, outputs, members, grain }
}

fn drop_empty_stages(kernel: &mut Kernel) {
    let mut remap = vec![usize::MAX; kernel.stages.len()];
    let mut kept = Vec::new();
    for (i, stage) in std::mem::take(&mut kernel.stages).into_iter().enumerate() {
        if matches!(&stage.kind, StageKind::Store(list) if list.is_empty()) {
            continue;
        }
        remap[i] = kept.len();
        kept.push(stage);
    }
    kernel.stages = kept;
    for e in &mut kernel.exprs {
        if let Expr::Stage(s) | Expr::Count(s) = e {
            *s = remap[*s];
        }
    }
}

/// Removes loops of extent 1 (their strides do not matter), which would otherwise keep
/// their neighbours from merging and leave a reduction's innermost loop one element long:
/// scalar code summing into one running total instead of vector partial sums.
fn drop_unit_loops(kernel: &mut Kernel) {
    for d in (0..kernel.outer.len()).rev() {
        if kernel.outer[d] == 1 {
            kernel.outer.remove(d);
            kernel.for_each_index_mut(|i| {
                i.outer.remove(d);
            });
        }
    }
    // Per rank of inner loops, the dims where every stage of that rank has extent 1. An
    // index has one stride per loop of the stage evaluating it, so its length names its rank.
    let rank_max = kernel.stages.iter().map(|s| s.inner.len()).max().unwrap_or(0);
    let units: Vec<Vec<usize>> = (0..=rank_max)
        .map(|rank| {
            let stages: Vec<_> = kernel.stages.iter().filter(|s| s.inner.len() == rank).collect();
            (0..rank).filter(|&d| !stages.is_empty() && stages.iter().all(|s| s.inner[d] == 1)).collect()
        })
        .collect();
    for stage in &mut kernel.stages {
        let rank = stage.inner.len();
        remove(&mut stage.inner, &units[rank]);
    }
    kernel.for_each_index_mut(|i| {
        let rank = i.inner.len();
        if let Some(units) = units.get(rank) {
            remove(&mut i.inner, units);
        }
    });
}

/// `dims` without the positions `units` (ascending).
fn remove<T>(dims: &mut Vec<T>, units: &[usize]) {
    for &d in units.iter().rev() {
        dims.remove(d);
    }
}

/// Merges outer loops `d` and `d + 1` wherever every access steps through them as one.
fn collapse_outer(kernel: &mut Kernel) {
    let mut d = 0;
    while d + 1 < kernel.outer.len() {
        let extent = kernel.outer[d + 1] as i64;
        let mergeable = kernel.indices().all(|i| i.outer[d] == i.outer[d + 1] * extent);
        if mergeable {
            kernel.outer[d] *= kernel.outer[d + 1];
            kernel.outer.remove(d + 1);
            kernel.for_each_index_mut(|i| {
                i.outer[d] = i.outer[d + 1];
                i.outer.remove(d + 1);
            });
        } else {
            d += 1;
        }
    }
}

fn collapse_inner(kernel: &mut Kernel) {
    let Some(rank) = kernel.stages.iter().map(|s| s.inner.len()).max() else { return };
    let mut d = 0;
    let mut rank = rank;
    while d + 1 < rank {
        let Some(extents) = kernel.stages.iter().find(|s| s.inner.len() == rank).map(|s| s.inner.clone()) else {
            return;
        };
        let extent = extents[d + 1] as i64;
        let mergeable =
            kernel.indices().filter(|i| i.inner.len() == rank).all(|i| i.inner[d] == i.inner[d + 1] * extent);
        if mergeable {
            for s in kernel.stages.iter_mut().filter(|s| s.inner.len() == rank) {
                s.inner[d] *= s.inner[d + 1];
                s.inner.remove(d + 1);
            }
            kernel.for_each_index_mut(|i| {
                if i.inner.len() == rank {
                    i.inner[d] = i.inner[d + 1];
                    i.inner.remove(d + 1);
                }
            });
            rank -= 1;
        } else {
            d += 1;
        }
    }
}

/// A pointwise kernel's last outer loop becomes its (vectorized) inner loop; a single long
/// loop is split so that its outer part can be shared among threads.
fn innermost_to_inner(kernel: &mut Kernel) {
    let Some(&extent) = kernel.outer.last() else { return };
    kernel.outer.pop();
    let mut inner = extent;
    let mut split = None;
    if kernel.outer_points() < 64 && extent >= 16 * 1024 {
        split = [4096usize, 2048, 1024, 512].into_iter().find(|c| extent % c == 0);
    }
    if let Some(c) = split {
        kernel.outer.push(extent / c);
        inner = c;
    }
    for stage in &mut kernel.stages {
        stage.inner = vec![inner];
    }
    kernel.for_each_index_mut(|i| {
        let stride = i.outer.pop().unwrap_or(0);
        if split.is_some() {
            i.outer.push(stride * inner as i64);
        }
        i.inner = vec![stride];
    });
}
