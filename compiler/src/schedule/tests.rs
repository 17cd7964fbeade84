//! The scheduler on small graphs: the loops and steps it produces.

use super::{ScheduledStep, schedule};
use ignis_runtime::Layout;

fn scheduled(text: &str, shapes: &[&[usize]]) -> Vec<ScheduledStep> {
    let graph = ignis_ir::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let layouts = shapes.iter().map(|s| Layout::contiguous(s)).collect();
    schedule(&graph, layouts).unwrap_or_else(|e| panic!("{e}")).steps
}

fn kernels(steps: &[ScheduledStep]) -> Vec<&ignis_ir::kernel::Kernel> {
    steps
        .iter()
        .filter_map(|s| match s {
            ScheduledStep::Kernel(f) | ScheduledStep::MatmulEpilogue { epilogue: f, .. } => Some(&f.kernel),
            ScheduledStep::Node(_) => None,
        })
        .collect()
}

fn kinds(steps: &[ScheduledStep]) -> Vec<&'static str> {
    steps
        .iter()
        .map(|s| match s {
            ScheduledStep::Node(_) => "node",
            ScheduledStep::Kernel(_) => "kernel",
            ScheduledStep::MatmulEpilogue { .. } => "epilogue",
        })
        .collect()
}

fn describe(steps: &[ScheduledStep]) -> Vec<String> {
    kernels(steps).iter().map(|k| k.to_string()).collect()
}

/// A sum of a broadcast product over `[7, 1, 32, 1]`: the unit dims go, leaving inner loops
/// `[7, 32]` whose innermost one runs on vectors (before, an innermost loop of extent 1 kept
/// the sum in one scalar running total).
#[test]
fn loops_of_extent_one_are_dropped() {
    let steps = scheduled(
        "graph @g(%x: f32[7,1,32,1], %g: f32[7,1,1,1]) -> (f32[]) {
  %0 = expand %g, shape=[7,1,32,1] : f32[7,1,32,1]
  %1 = mul %x, %0 : f32[7,1,32,1]
  %2 = sum %1, axes=[0,1,2,3], keepdim=false : f32[]
  return %2
}",
        &[&[7, 1, 32, 1], &[7, 1, 1, 1]],
    );
    let kernels = kernels(&steps);
    assert_eq!(kernels.len(), 1);
    let kernel = kernels[0];
    assert!(kernel.outer.iter().all(|&d| d != 1), "{kernel}");
    assert_eq!(kernel.stages[0].inner, vec![7, 32], "{kernel}");
}

/// A bias add and GELU after a matmul run as its epilogue; kernels that read the product
/// column by column (a transposed product, a sum over its rows) do not.
#[test]
fn row_by_row_kernels_after_a_matmul_are_its_epilogue() {
    let epilogue = scheduled(
        "graph @g(%x: f32[64,32], %w: f32[32,48], %b: f32[48]) -> (f32[64,48]) {
  %0 = matmul %x, %w : f32[64,48]
  %1 = add %0, %b : f32[64,48]
  %2 = gelu %1 : f32[64,48]
  return %2
}",
        &[&[64, 32], &[32, 48], &[48]],
    );
    assert!(matches!(epilogue.as_slice(), [ScheduledStep::MatmulEpilogue { .. }]), "{} steps", epilogue.len());
    let transposed = scheduled(
        "graph @g(%x: f32[64,32], %w: f32[32,48]) -> (f32[48,64]) {
  %0 = matmul %x, %w : f32[64,48]
  %1 = permute %0, perm=[1,0] : f32[48,64]
  %2 = exp %1 : f32[48,64]
  return %2
}",
        &[&[64, 32], &[32, 48]],
    );
    assert!(!kinds(&transposed).contains(&"epilogue"), "{:?}", describe(&transposed));
    let columns = scheduled(
        "graph @g(%x: f32[64,32], %w: f32[32,48]) -> (f32[48]) {
  %0 = matmul %x, %w : f32[64,48]
  %1 = mul %0, %0 : f32[64,48]
  %2 = sum %1, axes=[0], keepdim=false : f32[48]
  return %2
}",
        &[&[64, 32], &[32, 48]],
    );
    assert_eq!(kinds(&columns), ["node", "kernel"], "{:?}", describe(&columns));
    assert!(describe(&columns)[0].contains("outer=[48]"), "{:?}", describe(&columns));
}
