//! Backends that run a captured segment.
//!
//! The interpreter runs the graph node by node through the eager kernels; it is the
//! reference every other backend is compared with. The Cranelift backend compiles the
//! graph into fused native kernels (and eager nodes for what kernels do not cover) the
//! first time it sees each layout of the inputs; if compilation fails, the segment runs on
//! the interpreter (logged under `IGNIS_LOGS=codegen` and counted; strict mode panics).

use super::logs::{self, Topic};
use ignis_compiler::gpu::{self, GpuReport, Target as GpuTarget};
use ignis_compiler::native::{self, NativeReport};
use ignis_ir::Graph;
use ignis_runtime::executor::Interpreter;
use ignis_runtime::program::Program;
use ignis_runtime::{Layout, Storage};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which backend runs compiled segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Every node through the eager kernels (as torch.compile's "aot_eager").
    Interpreter,
    /// Fused kernels generated with Cranelift, the rest through the eager kernels.
    #[default]
    Cranelift,
}

/// Where a segment's native code goes in dumps, and whether failures must panic.
#[derive(Clone, Debug, Default)]
pub(crate) struct NativeSettings {
    pub(crate) strict: bool,
    /// Directory and file stem of this program's dumps.
    pub(crate) dump: Option<(PathBuf, String)>,
    pub(crate) name: String,
    /// The e-graph rewrite's budget.
    pub(crate) rewrite: Option<ignis_compiler::rewrite::RewriteBudget>,
    /// Also write every kernel for this GPU (ahead of time: nothing runs on it).
    pub(crate) gpu_codegen: Option<GpuTarget>,
}

/// One input layout's native program; `None` when compilation failed.
type Variant = (Vec<(Vec<usize>, Vec<isize>)>, Option<Arc<Program>>);

/// A compiled segment: the graph it was built from and the code that runs it.
pub(crate) struct SegmentProgram {
    interpreter: Interpreter,
    backend: Backend,
    settings: NativeSettings,
    native: Mutex<Vec<Variant>>,
    fallbacks: AtomicUsize,
    generated: AtomicUsize,
    report: Mutex<Option<NativeReport>>,
    gpu_report: Mutex<Option<GpuReport>>,
    /// Kernels of the programs compiled to run on a GPU.
    gpu_run_kernels: AtomicUsize,
    /// Programs for inputs on a GPU, by device and input layouts.
    #[cfg(feature = "gpu")]
    gpu_programs: Mutex<Vec<GpuVariant>>,
}

#[cfg(feature = "gpu")]
type GpuVariant =
    (ignis_runtime::Device, Vec<(Vec<usize>, Vec<isize>)>, Option<Arc<ignis_runtime::gpu::program::GpuProgram>>);

impl SegmentProgram {
    pub(crate) fn compile(graph: Graph, backend: Backend, settings: NativeSettings) -> SegmentProgram {
        SegmentProgram {
            interpreter: Interpreter::new(graph),
            backend,
            settings,
            native: Mutex::new(Vec::new()),
            fallbacks: AtomicUsize::new(0),
            generated: AtomicUsize::new(0),
            report: Mutex::new(None),
            gpu_report: Mutex::new(None),
            gpu_run_kernels: AtomicUsize::new(0),
            #[cfg(feature = "gpu")]
            gpu_programs: Mutex::new(Vec::new()),
        }
    }

    /// A program with no inputs and no outputs.
    pub(crate) fn empty() -> SegmentProgram {
        SegmentProgram::compile(Graph::new("empty"), Backend::Interpreter, NativeSettings::default())
    }

    pub(crate) fn graph(&self) -> &Graph {
        self.interpreter.graph()
    }

    /// Segments that fell back to the interpreter because native compilation failed.
    pub(crate) fn fallbacks(&self) -> usize {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Kernels whose code this segment's native compilations generated (not found cached).
    pub(crate) fn generated(&self) -> usize {
        self.generated.load(Ordering::Relaxed)
    }

    /// The last native compilation's report (kernels, fusion log).
    pub(crate) fn report(&self) -> Option<NativeReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Kernels written for a GPU: ahead of time (`gpu_codegen`) and in programs that run on
    /// one.
    pub(crate) fn gpu_kernels(&self) -> usize {
        self.gpu_report().map_or(0, |r| r.kernels.len()) + self.gpu_run_kernels.load(Ordering::Relaxed)
    }

    /// The last GPU code generation's report, when the options ask for one.
    pub(crate) fn gpu_report(&self) -> Option<GpuReport> {
        self.gpu_report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn run(&self, params: &[(Storage, Layout)]) -> Vec<(Storage, Layout)> {
        #[cfg(feature = "gpu")]
        if let Some(device) = params.iter().map(|(s, _)| s.device()).find(|d| *d != ignis_runtime::Device::Cpu) {
            return self.run_on_gpu(device, params);
        }
        match self.backend {
            Backend::Interpreter => self.interpreter.run(params),
            Backend::Cranelift => match self.native_for(params) {
                Some(program) => program.run(params),
                None => self.interpreter.run(params),
            },
        }
    }

    fn native_for(&self, params: &[(Storage, Layout)]) -> Option<Arc<Program>> {
        let mut variants = self.native.lock().unwrap_or_else(|e| e.into_inner());
        // Compared in place: this runs on every replay, so no key is built to look up.
        let same_layouts = |key: &[(Vec<usize>, Vec<isize>)]| {
            key.len() == params.len()
                && key.iter().zip(params).all(|((shape, strides), (_, l))| *shape == *l.shape && *strides == *l.strides)
        };
        if let Some((_, found)) = variants.iter().find(|(k, _)| same_layouts(k)) {
            return found.clone();
        }
        let key: Vec<(Vec<usize>, Vec<isize>)> =
            params.iter().map(|(_, l)| (l.shape.to_vec(), l.strides.to_vec())).collect();
        let layouts: Vec<Layout> = params.iter().map(|(_, l)| l.clone()).collect();
        let graph = self.interpreter.graph();
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            native::compile(graph, layouts, self.settings.rewrite)
        }))
        .unwrap_or_else(|panic| Err(format!("the compiler panicked: {}", panic_message(&panic))));
        let program = match compiled {
            Ok((program, report)) => {
                self.log_report(&report);
                self.generated.fetch_add(report.generated, Ordering::Relaxed);
                *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                Some(Arc::new(program))
            }
            Err(why) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if self.settings.strict {
                    panic!("compile {}: native code generation failed (strict mode): {why}", self.settings.name);
                }
                logs::log(Topic::Codegen, || format!("{}: runs on the interpreter: {why}", self.settings.name));
                tracing::warn!(target: "ignis::compile", "{}: native code generation failed: {why}", self.settings.name);
                None
            }
        };
        if let Some(target) = &self.settings.gpu_codegen {
            self.generate_gpu_code(params, target);
        }
        variants.push((key, program.clone()));
        program
    }

    /// Runs on the GPU the inputs are on (inputs on the CPU are copied there first): the
    /// GPU program for these layouts, compiled on first use; if that fails, the interpreter
    /// on host copies (logged and counted as a fallback; strict mode panics).
    #[cfg(feature = "gpu")]
    fn run_on_gpu(&self, device: ignis_runtime::Device, params: &[(Storage, Layout)]) -> Vec<(Storage, Layout)> {
        let name = &self.settings.name;
        let moved: Vec<(Storage, Layout)> = params
            .iter()
            .map(|(s, l)| {
                let s = if s.device() == device {
                    s.clone()
                } else {
                    s.to_device(device).unwrap_or_else(|e| panic!("{name}: {e}"))
                };
                (s, l.clone())
            })
            .collect();
        let key: Vec<(Vec<usize>, Vec<isize>)> =
            moved.iter().map(|(_, l)| (l.shape.to_vec(), l.strides.to_vec())).collect();
        let program = {
            let mut variants = self.gpu_programs.lock().unwrap_or_else(|e| e.into_inner());
            match variants.iter().find(|(d, k, _)| *d == device && *k == key) {
                Some((_, _, found)) => found.clone(),
                None => {
                    let program = self.compile_for_gpu(device, &moved);
                    variants.push((device, key, program.clone()));
                    program
                }
            }
        };
        if let Some(program) = program {
            match program.run(&moved) {
                Ok(outputs) => return outputs,
                Err(e) => panic!("{name} on {device}: {e}"),
            }
        }
        let host: Vec<(Storage, Layout)> = moved
            .iter()
            .map(|(s, l)| {
                (s.to_device(ignis_runtime::Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}")), l.clone())
            })
            .collect();
        self.interpreter
            .run(&host)
            .into_iter()
            .map(|(s, l)| (s.to_device(device).unwrap_or_else(|e| panic!("{name}: {e}")), l))
            .collect()
    }

    #[cfg(feature = "gpu")]
    fn compile_for_gpu(
        &self,
        device: ignis_runtime::Device,
        params: &[(Storage, Layout)],
    ) -> Option<Arc<ignis_runtime::gpu::program::GpuProgram>> {
        let name = &self.settings.name;
        let layouts: Vec<Layout> = params.iter().map(|(_, l)| l.clone()).collect();
        let graph = self.interpreter.graph();
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let gpu = ignis_runtime::gpu::GpuDevice::open(device).map_err(|e| e.to_string())?;
            ignis_compiler::gpu_program::compile(graph, layouts, self.settings.rewrite, &gpu)
        }))
        .unwrap_or_else(|panic| Err(format!("the compiler panicked: {}", panic_message(&panic))));
        match compiled {
            Ok((program, report)) => {
                logs::log(Topic::Fusion, || {
                    format!(
                        "{name} on {device}: {} kernels ({} generated), {} matmuls, {} nodes on the host\n{}",
                        report.kernels,
                        report.generated,
                        report.matmuls,
                        report.host_nodes.len(),
                        report.host_nodes.join("\n")
                    )
                });
                if let Some((dir, stem)) = &self.settings.dump {
                    logs::write_dump(dir, &format!("{stem}.gpu.mlir"), &report.mlir.join("\n"));
                    if !report.ptx.is_empty() {
                        logs::write_dump(dir, &format!("{stem}.gpu.lowered.mlir"), &report.lowered_mlir.join("\n"));
                        logs::write_dump(dir, &format!("{stem}.ptx"), &report.ptx.join("\n"));
                    }
                }
                self.generated.fetch_add(report.generated, Ordering::Relaxed);
                self.gpu_run_kernels.fetch_add(report.kernels, Ordering::Relaxed);
                Some(Arc::new(program))
            }
            Err(why) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if self.settings.strict {
                    panic!("compile {name}: GPU code generation for {device} failed (strict mode): {why}");
                }
                logs::log(Topic::Codegen, || format!("{name}: runs on the host interpreter: {why}"));
                tracing::warn!(target: "ignis::compile", "{name}: GPU code generation for {device} failed: {why}");
                None
            }
        }
    }

    /// Writes (and with the `gpu` feature lowers) this layout's kernels for `target`.
    fn generate_gpu_code(&self, params: &[(Storage, Layout)], target: &GpuTarget) {
        let layouts: Vec<Layout> = params.iter().map(|(_, l)| l.clone()).collect();
        let graph = self.interpreter.graph();
        let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gpu::generate(graph, layouts, self.settings.rewrite, target)
        }))
        .unwrap_or_else(|panic| Err(format!("the compiler panicked: {}", panic_message(&panic))));
        let name = &self.settings.name;
        match generated {
            Ok(report) => {
                logs::log(Topic::Kernels, || {
                    format!("{name}: {} kernels for {target}\n{}", report.kernels.len(), report.mlir())
                });
                if let Some((dir, stem)) = &self.settings.dump {
                    logs::write_dump(dir, &format!("{stem}.gpu.mlir"), &report.mlir());
                    let log: Vec<String> = report.fusion_log.iter().chain(&report.refused).cloned().collect();
                    logs::write_dump(dir, &format!("{stem}.gpu.fusion.txt"), &log.join("\n"));
                    if report.kernels.iter().any(|k| k.assembly.is_some()) {
                        logs::write_dump(dir, &format!("{stem}.gpu.lowered.mlir"), &report.lowered_mlir());
                        let file = format!("{stem}.{}", target.assembly_extension());
                        logs::write_dump(dir, &file, &report.assembly());
                    }
                }
                *self.gpu_report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
            }
            Err(why) => {
                if self.settings.strict {
                    panic!("compile {name}: GPU code generation for {target} failed (strict mode): {why}");
                }
                logs::log(Topic::Codegen, || format!("{name}: GPU code generation for {target} failed: {why}"));
                tracing::warn!(target: "ignis::compile", "{name}: GPU code generation for {target} failed: {why}");
            }
        }
    }

    fn log_report(&self, report: &NativeReport) {
        let name = &self.settings.name;
        logs::log(Topic::Fusion, || {
            format!(
                "{name}: {} kernels, {} eager nodes\n{}",
                report.kernel_count(),
                report.eager_nodes,
                report.fusion_log.join("\n")
            )
        });
        logs::log(Topic::Opt, || format!("{name}: {}\n{}", report.rewrite, report.optimized));
        logs::log(Topic::Kernels, || format!("{name}:\n{}", report.kernels.join("\n")));
        if let Some((dir, stem)) = &self.settings.dump {
            logs::write_dump(dir, &format!("{stem}.optimized.txt"), &report.optimized);
            logs::write_dump(dir, &format!("{stem}.kernels.txt"), &report.kernels.join("\n\n"));
            logs::write_dump(dir, &format!("{stem}.clif"), &report.clif.join("\n"));
            logs::write_dump(dir, &format!("{stem}.fusion.txt"), &report.fusion_log.join("\n"));
        }
    }

    /// Runs with every node's result handed to `inspect`, which may replace it (on the
    /// interpreter: the tool compares node by node).
    pub(crate) fn run_inspected(
        &self,
        params: &[(Storage, Layout)],
        inspect: impl FnMut(ignis_ir::NodeId, &mut (Storage, Layout)),
    ) -> Vec<(Storage, Layout)> {
        self.interpreter.run_inspected(params, inspect)
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
