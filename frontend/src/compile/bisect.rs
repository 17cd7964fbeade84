//! The accuracy bisector: runs a compiled function's captured graphs node by node against
//! the eager kernels and names the first node whose result differs beyond tolerance.
//!
//! The reference runs every node of a segment through the eager kernel of its op; the
//! candidate is the segment's compiled program, observed node by node. Both start from the
//! inputs the trace bound, so the first node that differs is where the compiled code went
//! wrong, not a node downstream of it.

use super::args::{Args, Outputs};
use super::function::Compiled;
use ignis_ir::{DType, NodeId};
use ignis_runtime::executor::Interpreter;
use ignis_runtime::{Layout, Storage, View, cpu};
use std::fmt;

/// Tolerances of the comparison, and (to check the bisector itself) a fault to inject.
#[derive(Clone, Debug)]
pub struct BisectOptions {
    pub rtol: f64,
    pub atol: f64,
    /// Adds 1 to every element of the candidate's result of node `(segment, node)`.
    pub inject_fault: Option<(usize, usize)>,
}

impl Default for BisectOptions {
    fn default() -> Self {
        BisectOptions { rtol: 1e-5, atol: 1e-6, inject_fault: None }
    }
}

/// The first node whose compiled result differs from the eager one.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    pub segment: usize,
    pub node: usize,
    /// The node's line in the IR text form.
    pub line: String,
    pub max_abs_diff: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BisectReport {
    /// Nodes compared, over every segment.
    pub checked: usize,
    pub first_divergence: Option<Divergence>,
}

impl fmt::Display for BisectReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.first_divergence {
            None => write!(f, "bisect: {} node(s) checked, compiled and eager agree", self.checked),
            Some(d) => write!(
                f,
                "bisect: first divergence in segment {} at node {} (max |difference| {:.3e}):\n  {}",
                d.segment, d.node, d.max_abs_diff, d.line
            ),
        }
    }
}

/// Bisects with the default tolerances.
pub fn bisect<A, O, F>(compiled: &Compiled<A, O, F>, args: A) -> BisectReport
where
    A: Args,
    O: Outputs,
    F: Fn(A) -> O + Send + Sync,
{
    bisect_with(compiled, args, &BisectOptions::default())
}

/// Traces `compiled` on `args`, then compares every node of every segment.
pub fn bisect_with<A, O, F>(compiled: &Compiled<A, O, F>, args: A, options: &BisectOptions) -> BisectReport
where
    A: Args,
    O: Outputs,
    F: Fn(A) -> O + Send + Sync,
{
    let outcome = compiled.trace_keeping_inputs(args);
    let mut checked = 0;
    for (segment, record) in outcome.segments.iter().enumerate() {
        let Some((program, params)) = &record.run else { continue };
        let graph = program.graph();
        let reference = Interpreter::new(graph.clone());
        let mut expected: Vec<Option<(Storage, Layout)>> = vec![None; graph.nodes.len()];
        reference.run_observed(params, |id, out| expected[id.index()] = Some(out.clone()));
        let mut first: Option<Divergence> = None;
        program.run_inspected(params, |id, out| {
            if options.inject_fault == Some((segment, id.index())) {
                *out = plus_one(out);
            }
            if first.is_some() {
                return;
            }
            checked += 1;
            let want = expected[id.index()].as_ref().expect("the reference ran every node");
            let diff = max_difference(out, want, options);
            if let Some(max_abs_diff) = diff {
                first = Some(Divergence {
                    segment,
                    node: id.index(),
                    line: ignis_ir::text::node_line(graph, NodeId::new(id.index())),
                    max_abs_diff,
                });
            }
        });
        if first.is_some() {
            let report = BisectReport { checked, first_divergence: first };
            eprintln!("{report}");
            return report;
        }
    }
    let report = BisectReport { checked, first_divergence: None };
    eprintln!("{report}");
    report
}

fn as_f64(out: &(Storage, Layout)) -> Vec<f64> {
    let converted = cpu::cast(View::new(&out.0, &out.1), DType::F64);
    converted.to_vec::<f64>()
}

/// The largest absolute difference when some element is outside tolerance.
fn max_difference(found: &(Storage, Layout), expected: &(Storage, Layout), options: &BisectOptions) -> Option<f64> {
    if found.1.shape != expected.1.shape {
        return Some(f64::INFINITY);
    }
    let (a, b) = (as_f64(found), as_f64(expected));
    let mut worst = 0.0f64;
    let mut outside = false;
    for (x, y) in a.iter().zip(&b) {
        if x.is_nan() && y.is_nan() || x == y {
            continue;
        }
        let d = (x - y).abs();
        if d.is_nan() || d > options.atol + options.rtol * y.abs() {
            outside = true;
        }
        worst = worst.max(if d.is_nan() { f64::INFINITY } else { d });
    }
    outside.then_some(worst)
}

fn plus_one(out: &(Storage, Layout)) -> (Storage, Layout) {
    let dtype = out.0.dtype();
    let values: Vec<f64> = as_f64(out).iter().map(|v| v + 1.0).collect();
    let layout = Layout::contiguous(&out.1.shape);
    let storage = cpu::cast(View::new(&Storage::from_vec(values), &layout), dtype);
    (storage, layout)
}
