//! How a kernel's outer points map onto GPU threads.
//!
//! - [`Mapping::ThreadPerPoint`]: each thread runs one outer point, its stages' inner loops
//!   in sequence. Elementwise kernels (no inner loops) and reductions whose inner points are
//!   few, or strided while neighbouring outer points are contiguous (a column sum), so that
//!   neighbouring threads read neighbouring elements.
//! - [`Mapping::BlockPerPoint`]: a block of threads runs one outer point. The threads share
//!   each stage's inner points (thread `t` takes points `t`, `t + threads`, ...) and combine
//!   their partial reductions in a tree in workgroup memory, after which every thread holds
//!   the result. Rows of a softmax or a layer norm: neighbouring threads read neighbouring
//!   elements of the row.

use super::Target;
use ignis_ir::kernel::{Expr, Kernel, StageKind};

/// Inner points per outer point from which a block shares them.
const BLOCK_MIN_INNER: usize = 32;
/// Threads of a thread-per-point block.
const POINT_BLOCK: u32 = 256;
/// Threads of a block per point; more when one block reduces a long space alone.
const ROW_BLOCK: u32 = 256;
const WIDE_ROW_BLOCK: u32 = 1024;
const WIDE_ROW_MIN_INNER: usize = 8192;
const WIDE_ROW_MAX_POINTS: usize = 64;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    ThreadPerPoint,
    BlockPerPoint { threads: u32 },
}

/// The grid of a launch: `blocks` blocks of `threads` threads (all along x).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Launch {
    pub mapping: Mapping,
    pub blocks: u32,
    pub threads: u32,
}

impl Launch {
    /// Whether the launch has no work (an empty outer space): the runtime skips it.
    pub fn is_empty(&self) -> bool {
        self.blocks == 0
    }
}

pub(crate) fn plan(kernel: &Kernel, target: &Target) -> Launch {
    let points = kernel.outer_points();
    let inner = kernel.stages.iter().map(|s| s.inner.iter().product::<usize>()).max().unwrap_or(0);
    let has_inner = kernel.stages.iter().any(|s| !s.inner.is_empty());
    let shared = has_inner && inner >= BLOCK_MIN_INNER && reads_rows(kernel, points);
    let mapping = if shared {
        let threads = if inner >= WIDE_ROW_MIN_INNER && points <= WIDE_ROW_MAX_POINTS {
            WIDE_ROW_BLOCK
        } else {
            // Whole warps, no more than the row needs.
            (inner.next_power_of_two() as u32).clamp(target.warp_size(), ROW_BLOCK)
        };
        Mapping::BlockPerPoint { threads }
    } else {
        Mapping::ThreadPerPoint
    };
    match mapping {
        Mapping::ThreadPerPoint => {
            let threads = if points >= POINT_BLOCK as usize {
                POINT_BLOCK
            } else {
                let warp = target.warp_size() as usize;
                (points.div_ceil(warp) * warp).max(warp) as u32
            };
            Launch { mapping, blocks: points.div_ceil(threads as usize) as u32, threads }
        }
        Mapping::BlockPerPoint { threads } => Launch { mapping, blocks: points as u32, threads },
    }
}

/// Whether the threads of a block should share the inner points: more of the loads that
/// move with the inner loops are contiguous along them than along the outer points, or
/// there are too few outer points to keep the GPU busy one thread each.
fn reads_rows(kernel: &Kernel, points: usize) -> bool {
    const FEW_POINTS: usize = 4096;
    if points < FEW_POINTS {
        return true;
    }
    let (mut along_inner, mut along_outer) = (0, 0);
    for stage in &kernel.stages {
        let roots = match &stage.kind {
            StageKind::Reduce { value, .. } => vec![*value],
            StageKind::Store(stores) => stores.iter().map(|s| s.value).collect(),
        };
        for id in kernel.reachable(&roots) {
            if let Expr::Load { index, .. } = kernel.expr(id)
                && index.varies_inside()
            {
                if index.innermost() == 1 {
                    along_inner += 1;
                } else if index.outer.last() == Some(&1) {
                    along_outer += 1;
                }
            }
        }
        if let StageKind::Store(stores) = &stage.kind {
            for s in stores.iter().filter(|s| s.index.varies_inside()) {
                if s.index.innermost() == 1 {
                    along_inner += 1;
                } else if s.index.outer.last() == Some(&1) {
                    along_outer += 1;
                }
            }
        }
    }
    along_inner >= along_outer
}
