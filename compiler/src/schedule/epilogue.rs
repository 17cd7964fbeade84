//! Matmul epilogues: a kernel right after an f32 matmul that reads the product row by row
//! (each outer point a whole row or a fixed part of one, contiguous) runs on every band of
//! rows as soon as `gemm` has computed it, while the band is still in cache, instead of as a
//! separate pass over the whole product: bias, activation, residual add, a softmax or layer
//! norm of the rows.

use super::ScheduledStep;
use super::finish::Finished;
use ignis_ir::kernel::{Expr, Index};
use ignis_ir::shape::DimValue;
use ignis_ir::{DType, Graph, NodeId, Op};

/// Fuses every matmul step with the kernel step after it where that kernel qualifies.
pub(super) fn fuse(graph: &Graph, steps: Vec<ScheduledStep>, log: &mut Vec<String>) -> Vec<ScheduledStep> {
    let mut out = Vec::with_capacity(steps.len());
    let mut steps = steps.into_iter().peekable();
    while let Some(step) = steps.next() {
        let matmul = match step {
            ScheduledStep::Node(n) if graph.node(n).op == Op::Matmul => n,
            step => {
                out.push(step);
                continue;
            }
        };
        let next = match steps.peek() {
            Some(ScheduledStep::Kernel(f)) if reads(f, matmul) => Some(f),
            _ => None,
        };
        match next.map(|f| qualifies(graph, matmul, f)) {
            Some(Ok(())) => {
                let Some(ScheduledStep::Kernel(epilogue)) = steps.next() else { unreachable!("peeked") };
                log.push(format!("{}: epilogue of matmul %{}", epilogue.kernel.name, matmul.index()));
                out.push(ScheduledStep::MatmulEpilogue { matmul, epilogue });
            }
            Some(Err(why)) => {
                let name = &next.expect("a kernel").kernel.name;
                log.push(format!("{name}: not an epilogue of matmul %{}: {why}", matmul.index()));
                out.push(ScheduledStep::Node(matmul));
            }
            None => out.push(ScheduledStep::Node(matmul)),
        }
    }
    out
}

fn reads(f: &Finished, node: NodeId) -> bool {
    f.buffers.contains(&node.value())
}

/// Whether kernel `f` can run on bands of `matmul`'s rows, or why not.
fn qualifies(graph: &Graph, matmul: NodeId, f: &Finished) -> Result<(), String> {
    let node = graph.node(matmul);
    let f32_typed = |ty: &ignis_ir::ValueType| ty.dtype == DType::F32 && ty.rank() >= 2;
    let inputs_ok = node.inputs.iter().all(|&v| graph.value_type(v).is_some_and(f32_typed));
    if !f32_typed(&node.ty) || !inputs_ok {
        return Err("the product is not an f32 matrix product of matrices".into());
    }
    let shape: Vec<usize> = node.ty.shape.iter().map(|d| d.known().unwrap_or(0)).collect();
    let n = *shape.last().expect("rank 2 or more");
    let numel: usize = shape.iter().product();
    let kernel = &f.kernel;
    let points = kernel.outer_points();
    if points == 0 || !numel.is_multiple_of(points) {
        return Err(format!("{points} outer points for a product of {numel}"));
    }
    // Each outer point covers `chunk` consecutive elements of one row.
    let chunk = numel / points;
    if !n.is_multiple_of(chunk) {
        return Err(format!("outer points of {chunk} elements straddle rows of {n}"));
    }
    let expected = row_major(&kernel.outer, chunk as i64);
    let buffer = f.buffers.iter().position(|&v| v == matmul.value()).expect("the kernel reads the product");
    for stage in &kernel.stages {
        for id in kernel.reachable(&stage.roots()) {
            if let Expr::Load { buffer: b, index } = kernel.expr(id)
                && *b == buffer
                && !(stage.inner == [chunk] && walks_rows(index, &expected, &kernel.outer))
            {
                return Err(format!("reads the product at {index:?} in a stage over {:?}", stage.inner));
            }
        }
    }
    Ok(())
}

/// Strides that walk a row-major space of `outer` extents, `chunk` elements per point.
fn row_major(outer: &[usize], chunk: i64) -> Vec<i64> {
    let mut strides = vec![0; outer.len()];
    let mut step = chunk;
    for d in (0..outer.len()).rev() {
        strides[d] = step;
        step *= outer[d] as i64;
    }
    strides
}

/// Whether `index` reads point `p`'s chunk contiguously (strides of size-1 dims aside).
fn walks_rows(index: &Index, expected: &[i64], outer: &[usize]) -> bool {
    index.offset == 0
        && index.inner == [1]
        && index.outer.iter().zip(expected).zip(outer).all(|((&s, &e), &extent)| s == e || extent == 1)
}
