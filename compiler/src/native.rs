//! From a graph to a runnable native program: schedule it, generate every kernel with
//! Cranelift (through the kernel cache), and assemble a `runtime::program::Program`.

use crate::rewrite::{self, RewriteBudget};
use crate::schedule::{self, Finished, ScheduledStep};
use ignis_ir::Graph;
use ignis_kernels_gen::cpu::{CacheOutcome, compile_kernel_cached, support_table};
use ignis_runtime::Layout;
use ignis_runtime::interpret::concrete_shape;
use ignis_runtime::program::{KernelLaunch, KernelOutput, NativeKernel, Program, Step, SupportTable};
use std::sync::Arc;

/// What compilation produced besides the program: for logs, dumps and tests.
#[derive(Clone, Debug, Default)]
pub struct NativeReport {
    /// The kernel IR of every kernel, in execution order.
    pub kernels: Vec<String>,
    /// The Cranelift IR of every kernel.
    pub clif: Vec<String>,
    /// Fusions refused and nodes left to the eager kernels, with reasons.
    pub fusion_log: Vec<String>,
    /// Nodes run through the eager kernels.
    pub eager_nodes: usize,
    /// The graph after the e-graph rewrite (what was scheduled).
    pub optimized: String,
    /// How the rewrite went: stop reason, sizes, cost before and after, rules applied.
    pub rewrite: String,
    /// Kernels whose machine code this compilation generated; the others came from the
    /// kernel cache (another program, another size of the outermost dim, or the disk).
    pub generated: usize,
    /// Kernels that run as a matmul's epilogue, on each band of its product's rows.
    pub epilogues: usize,
}

impl NativeReport {
    pub fn kernel_count(&self) -> usize {
        self.kernels.len()
    }
}

/// Compiles `graph` for inputs with `param_layouts`; an error names what could not be
/// compiled (the caller runs the graph on the interpreter instead).
pub fn compile(
    graph: &Graph,
    param_layouts: Vec<Layout>,
    budget: Option<RewriteBudget>,
) -> Result<(Program, NativeReport), String> {
    let (optimized, rewrite_log) = optimize(graph, budget);
    let graph = &optimized;
    let schedule = schedule::schedule(graph, param_layouts)?;
    let mut report = NativeReport {
        fusion_log: schedule.log.clone(),
        optimized: graph.to_string(),
        rewrite: rewrite_log,
        ..Default::default()
    };
    let mut steps = Vec::new();
    for step in schedule.steps {
        match step {
            ScheduledStep::Node(n) => {
                report.eager_nodes += 1;
                steps.push(Step::Node(n));
            }
            ScheduledStep::Kernel(finished) => {
                steps.push(Step::Kernel(launch(finished, graph, &schedule.slot_of, &mut report)?));
            }
            ScheduledStep::MatmulEpilogue { matmul, epilogue } => {
                // The product itself still comes from `gemm`, as an eager node would.
                report.eager_nodes += 1;
                report.epilogues += 1;
                let epilogue = launch(epilogue, graph, &schedule.slot_of, &mut report)?;
                steps.push(Step::MatmulEpilogue { matmul, epilogue });
            }
        }
    }
    Ok((Program::new(graph.clone(), steps, schedule.slot_of, schedule.slots), report))
}

/// The graph after the e-graph rewrite (or as captured, when the rewrite is off or fails),
/// and a line that says how the rewrite went.
pub(crate) fn optimize(graph: &Graph, budget: Option<RewriteBudget>) -> (Graph, String) {
    match budget.map(|b| rewrite::rewrite(graph, b)) {
        Some(Ok((g, r))) => {
            let applied: Vec<String> = r.rules_applied.iter().map(|(name, n)| format!("{name} x{n}")).collect();
            let log = format!(
                "stop: {}, {} iterations, {} e-nodes in {} classes, cost {:.0} -> {:.0}; rules: {}",
                r.stop_reason,
                r.iterations,
                r.egraph_nodes,
                r.egraph_classes,
                r.cost_before,
                r.cost_after,
                if applied.is_empty() { "none".to_string() } else { applied.join(", ") }
            );
            (g, log)
        }
        Some(Err(e)) => (graph.clone(), format!("rewrite failed, the captured graph is scheduled as is: {e}")),
        None => (graph.clone(), "rewrite off".to_string()),
    }
}

/// The kernel's code (generated or from the cache) and what its launch needs.
fn launch(
    finished: Finished,
    graph: &Graph,
    slot_of: &[Option<usize>],
    report: &mut NativeReport,
) -> Result<KernelLaunch, String> {
    let (code, outcome) = compile_kernel_cached(&finished.kernel).map_err(|e| e.to_string())?;
    report.generated += usize::from(outcome == CacheOutcome::Generated);
    report.kernels.push(finished.kernel.to_string());
    report.clif.push(code.clif.clone());
    let outputs = finished
        .outputs
        .iter()
        .map(|&n| {
            let ty = &graph.node(n).ty;
            KernelOutput { node: n, dtype: ty.dtype, shape: concrete_shape(ty), slot: slot_of[n.index()] }
        })
        .collect();
    let kernel = NativeKernel {
        name: finished.kernel.name.clone(),
        entry: code.entry,
        sizes: code.sizes.clone(),
        support: SupportTable(support_table()),
        outer_points: finished.kernel.outer_points(),
        grain: finished.grain,
        code: Arc::new(code),
    };
    Ok(KernelLaunch { kernel: Arc::new(kernel), buffers: finished.buffers, outputs })
}
