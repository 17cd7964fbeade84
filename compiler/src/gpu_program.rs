//! From a graph to a program on a GPU (feature `gpu`): the GPU schedule, every kernel
//! written and lowered for the device (PTX for a CUDA card, the host form for the host
//! emulation), matmuls through cuBLAS, views as layouts, and the rest on the host.
//!
//! Kernels are cached by their text and target, so an eager op seen again, or a program
//! recompiled for another layout with some of the same kernels, costs no code generation.

use crate::native::optimize;
use crate::rewrite::RewriteBudget;
use crate::schedule::{self, Class, Machine, ScheduledStep, classify};
use ignis_ir::{Graph, NodeId, Op};
use ignis_kernels_gen::gpu::{Target, host, lower::lower, write_mlir};
use ignis_runtime::Layout;
use ignis_runtime::gpu::program::{GpuLaunch, GpuProgram, GpuStep};
use ignis_runtime::gpu::{DeviceKernel, GpuDevice, HostEntry};
use ignis_runtime::interpret::concrete_shape;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What building a GPU program did, for logs, dumps and stats.
#[derive(Clone, Debug, Default)]
pub struct GpuProgramReport {
    pub kernels: usize,
    /// Kernels whose code was made now (the rest came from the cache).
    pub generated: usize,
    pub matmuls: usize,
    /// Nodes that run on the host, with why.
    pub host_nodes: Vec<String>,
    /// Every kernel's MLIR, and with a CUDA card the MLIR after lowering and the PTX
    /// (for the kernels generated now).
    pub mlir: Vec<String>,
    pub lowered_mlir: Vec<String>,
    pub ptx: Vec<String>,
}

/// The code target of a device: its own compute capability, or sm_90's launch shapes for
/// the host emulation.
pub fn target_of(gpu: &GpuDevice) -> Target {
    Target::Cuda { sm: gpu.compute_capability().unwrap_or(90) }
}

/// Builds the program of `graph` for inputs with `param_layouts` on `gpu`.
pub fn compile(
    graph: &Graph,
    param_layouts: Vec<Layout>,
    budget: Option<RewriteBudget>,
    gpu: &GpuDevice,
) -> Result<(GpuProgram, GpuProgramReport), String> {
    let (optimized, _) = optimize(graph, budget);
    let graph = &optimized;
    let schedule = schedule::schedule_for(graph, param_layouts, Machine::Gpu)?;
    let target = target_of(gpu);
    let mut report = GpuProgramReport::default();
    let mut steps = Vec::new();
    for step in schedule.steps {
        match step {
            ScheduledStep::Node(n) => steps.push(node_step(graph, n, &mut report)),
            ScheduledStep::Kernel(finished) => {
                steps.push(kernel_step(graph, finished, &target, gpu.is_emulated(), &mut report)?);
            }
            // On a GPU the epilogue is a kernel of its own after the cuBLAS product.
            ScheduledStep::MatmulEpilogue { matmul, epilogue } => {
                steps.push(node_step(graph, matmul, &mut report));
                steps.push(kernel_step(graph, epilogue, &target, gpu.is_emulated(), &mut report)?);
            }
        }
    }
    Ok((GpuProgram::new(graph.clone(), steps, gpu.device()), report))
}

fn kernel_step(
    graph: &Graph,
    finished: schedule::Finished,
    target: &Target,
    emulated: bool,
    report: &mut GpuProgramReport,
) -> Result<GpuStep, String> {
    let outputs =
        finished.outputs.iter().map(|&n| (n, graph.node(n).ty.dtype, concrete_shape(&graph.node(n).ty))).collect();
    let kernel = device_kernel(&finished.kernel, target, emulated, report)?;
    Ok(GpuStep::Kernel(GpuLaunch { kernel, buffers: finished.buffers, outputs }))
}

/// A node outside kernels: a view, an f32 matmul (cuBLAS when its layouts allow, which the
/// program checks when it runs), or a node for the host.
fn node_step(graph: &Graph, n: NodeId, report: &mut GpuProgramReport) -> GpuStep {
    let node = graph.node(n);
    match classify(graph, node) {
        Class::View => GpuStep::View(n),
        _ if matches!(node.op, Op::Matmul) && node.ty.dtype == ignis_ir::DType::F32 => {
            report.matmuls += 1;
            GpuStep::Matmul(n)
        }
        class => {
            let why = match class {
                Class::Extern(why) => why,
                _ => "no GPU code".to_string(),
            };
            report.host_nodes.push(format!("{n} = {}: runs on the host: {why}", node.op.name()));
            GpuStep::Host(n)
        }
    }
}

type KernelCache = Mutex<HashMap<(String, Target, bool), Arc<DeviceKernel>>>;

fn cache() -> &'static KernelCache {
    static CACHE: std::sync::OnceLock<KernelCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The launchable form of `kernel`: PTX for a card, the host form for the emulation.
fn device_kernel(
    kernel: &ignis_ir::kernel::Kernel,
    target: &Target,
    emulated: bool,
    report: &mut GpuProgramReport,
) -> Result<Arc<DeviceKernel>, String> {
    report.kernels += 1;
    let source = write_mlir(kernel, target).map_err(|e| e.to_string())?;
    let key = (source.mlir.clone(), target.clone(), emulated);
    report.mlir.push(source.mlir.clone());
    if let Some(found) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(found.clone());
    }
    report.generated += 1;
    let (ptx, host) = if emulated {
        let compiled = host::compile(kernel, target).map_err(|e| e.to_string())?;
        (None, Some(HostEntry { entry: compiled.entry, keep: compiled.engine }))
    } else {
        let lowered = lower(&source).map_err(|e| e.to_string())?;
        report.lowered_mlir.push(lowered.lowered_mlir.clone());
        report.ptx.push(lowered.assembly.clone());
        (Some(lowered.assembly), None)
    };
    let built = Arc::new(DeviceKernel {
        name: source.name,
        blocks: source.launch.blocks,
        threads: source.launch.threads,
        ptx,
        host,
    });
    cache().lock().unwrap_or_else(|e| e.into_inner()).insert(key, built.clone());
    Ok(built)
}
