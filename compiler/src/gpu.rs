//! GPU code for a graph, ahead of time: the same rewrite and schedule as the CPU's (kernels,
//! nodes left to the eager kernels, matmuls with their epilogues), each kernel written as
//! MLIR for a GPU target and, with the `gpu` feature, lowered to PTX or AMDGPU assembly.
//!
//! Nothing here launches anything; `--codegen-only` runs and the dumps of compiled functions
//! read these reports.

use crate::native::optimize;
use crate::rewrite::RewriteBudget;
use crate::schedule::{self, ScheduledStep};
use ignis_ir::Graph;
#[cfg(feature = "gpu")]
pub use ignis_kernels_gen::gpu::tools;
use ignis_kernels_gen::gpu::write_mlir;
pub use ignis_kernels_gen::gpu::{Launch, Mapping, Target};
use ignis_runtime::Layout;
use std::time::Instant;

/// One kernel's GPU code.
#[derive(Clone, Debug)]
pub struct GpuKernelCode {
    pub name: String,
    /// The kernel IR it was written from.
    pub kernel: String,
    pub mlir: String,
    /// The MLIR after lowering to the NVVM or ROCDL dialect (with the `gpu` feature).
    pub lowered_mlir: Option<String>,
    /// PTX or AMDGPU assembly (with the `gpu` feature).
    pub assembly: Option<String>,
    pub launch: Launch,
}

/// What GPU code generation made of a graph.
#[derive(Clone, Debug)]
pub struct GpuReport {
    pub target: Target,
    pub kernels: Vec<GpuKernelCode>,
    /// Kernels the GPU code does not cover, with why (they would run on the host).
    pub refused: Vec<String>,
    /// Nodes outside kernels: matmuls (cuBLAS on a GPU) and what the eager kernels run.
    pub eager_nodes: usize,
    pub fusion_log: Vec<String>,
    pub optimized: String,
    pub rewrite: String,
    /// Wall time of writing and lowering the kernels.
    pub codegen_ms: f64,
}

impl GpuReport {
    /// Every kernel's MLIR, one module after another.
    pub fn mlir(&self) -> String {
        self.kernels.iter().map(|k| format!("// kernel {}\n{}", k.name, k.mlir)).collect::<Vec<_>>().join("\n")
    }

    /// Every kernel's lowered MLIR (empty without the `gpu` feature).
    pub fn lowered_mlir(&self) -> String {
        self.kernels
            .iter()
            .filter_map(|k| k.lowered_mlir.as_ref().map(|m| format!("// kernel {}\n{m}", k.name)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every kernel's assembly (empty without the `gpu` feature).
    pub fn assembly(&self) -> String {
        self.kernels.iter().filter_map(|k| k.assembly.clone()).collect::<Vec<_>>().join("\n")
    }
}

/// Schedules `graph` for inputs with `param_layouts` and writes (and, with the `gpu`
/// feature, lowers) every kernel for `target`. A kernel MLIR or LLVM rejects is an error:
/// that is a bug of the generator, not an unsupported case.
pub fn generate(
    graph: &Graph,
    param_layouts: Vec<Layout>,
    budget: Option<RewriteBudget>,
    target: &Target,
) -> Result<GpuReport, String> {
    let (optimized, rewrite) = optimize(graph, budget);
    let schedule = schedule::schedule_for(&optimized, param_layouts, schedule::Machine::Gpu)?;
    let started = Instant::now();
    let mut report = GpuReport {
        target: target.clone(),
        kernels: Vec::new(),
        refused: Vec::new(),
        eager_nodes: 0,
        fusion_log: schedule.log.clone(),
        optimized: optimized.to_string(),
        rewrite,
        codegen_ms: 0.0,
    };
    for step in schedule.steps {
        let finished = match step {
            ScheduledStep::Node(_) => {
                report.eager_nodes += 1;
                continue;
            }
            ScheduledStep::Kernel(finished) => finished,
            ScheduledStep::MatmulEpilogue { epilogue, .. } => {
                report.eager_nodes += 1;
                epilogue
            }
        };
        let kernel = &finished.kernel;
        let source = match write_mlir(kernel, target) {
            Ok(source) => source,
            Err(e) => {
                report.refused.push(e.to_string());
                continue;
            }
        };
        let (lowered_mlir, assembly) = lower(&source)?;
        report.kernels.push(GpuKernelCode {
            name: source.name,
            kernel: kernel.to_string(),
            mlir: source.mlir,
            lowered_mlir,
            assembly,
            launch: source.launch,
        });
    }
    report.codegen_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

#[cfg(feature = "gpu")]
fn lower(source: &ignis_kernels_gen::gpu::GpuSource) -> Result<(Option<String>, Option<String>), String> {
    let lowered = ignis_kernels_gen::gpu::lower::lower(source).map_err(|e| e.to_string())?;
    Ok((Some(lowered.lowered_mlir), Some(lowered.assembly)))
}

#[cfg(not(feature = "gpu"))]
fn lower(_: &ignis_kernels_gen::gpu::GpuSource) -> Result<(Option<String>, Option<String>), String> {
    Ok((None, None))
}
