//! The state one compiled function shares between its calls and threads: options, the
//! programs of its segments (found by the segment's structure), counters.

use super::backend::{NativeSettings, SegmentProgram};
use super::logs::{self, Topic};
use super::options::CompileOptions;
use ignis_ir::Graph;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counters a user (or a test) can read to see what compiling did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Calls traced (the first call, guard misses, and every call of a function that
    /// cannot be replayed without running it).
    pub traces: usize,
    /// Calls answered by a cached program without running the function.
    pub replays: usize,
    /// Segment programs compiled.
    pub compiles: usize,
    /// Calls that ran eagerly because the recompile limit was reached.
    pub eager_fallbacks: usize,
    /// Graph breaks seen over all traced calls.
    pub breaks: usize,
    /// Native kernels in the compiled programs (the last input layout of each program).
    pub kernels: usize,
    /// Graph nodes those programs run through the eager kernels (matmul, gather, ...).
    pub eager_nodes: usize,
    /// Programs that run on the interpreter because native compilation failed.
    pub native_fallbacks: usize,
    /// Kernels whose machine code compiling generated; kernels found in the kernel cache
    /// (shared by every function, by every size of a kernel's outermost dim, and on disk)
    /// do not count.
    pub kernels_generated: usize,
    /// Kernels (counted in `kernels`) that run as a matmul's epilogue, on each band of the
    /// product's rows as `gemm` finishes it.
    pub matmul_epilogues: usize,
    /// Kernels written for a GPU: for `CompileOptions::gpu_codegen`'s target, and for
    /// programs that run on a GPU (inputs on one).
    pub gpu_kernels: usize,
}

pub(crate) struct FunctionShared {
    name: String,
    pub(crate) options: CompileOptions,
    programs: Mutex<HashMap<u64, Vec<Arc<SegmentProgram>>>>,
    pub(crate) traces: AtomicUsize,
    pub(crate) replays: AtomicUsize,
    pub(crate) compiles: AtomicUsize,
    pub(crate) eager_fallbacks: AtomicUsize,
    pub(crate) breaks: AtomicUsize,
    /// Traces keep each segment's inputs (for the accuracy bisector).
    keep_inputs: std::sync::atomic::AtomicBool,
}

impl FunctionShared {
    pub(crate) fn new(options: CompileOptions) -> FunctionShared {
        FunctionShared {
            name: options.name.clone().unwrap_or_else(|| "fn".into()),
            options,
            programs: Mutex::new(HashMap::new()),
            traces: AtomicUsize::new(0),
            replays: AtomicUsize::new(0),
            compiles: AtomicUsize::new(0),
            eager_fallbacks: AtomicUsize::new(0),
            breaks: AtomicUsize::new(0),
            keep_inputs: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn keep_inputs(&self) -> bool {
        self.keep_inputs.load(Ordering::Relaxed)
    }

    pub(crate) fn set_keep_inputs(&self, keep: bool) {
        self.keep_inputs.store(keep, Ordering::Relaxed);
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn stats(&self) -> CompileStats {
        let native = self.native_totals();
        CompileStats {
            traces: self.traces.load(Ordering::Relaxed),
            replays: self.replays.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
            eager_fallbacks: self.eager_fallbacks.load(Ordering::Relaxed),
            breaks: self.breaks.load(Ordering::Relaxed),
            kernels: native.0,
            eager_nodes: native.1,
            native_fallbacks: native.2,
            kernels_generated: native.3,
            matmul_epilogues: native.4,
            gpu_kernels: {
                let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
                programs.values().flatten().map(|p| p.gpu_kernels()).sum()
            },
        }
    }

    /// The GPU code generation reports of every compiled program (`gpu_codegen`).
    pub(crate) fn gpu_reports(&self) -> Vec<ignis_compiler::gpu::GpuReport> {
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs.values().flatten().filter_map(|p| p.gpu_report()).collect()
    }

    /// Kernels, eager nodes, interpreter fallbacks, generated kernels and matmul epilogues
    /// over every compiled program.
    fn native_totals(&self) -> (usize, usize, usize, usize, usize) {
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        let mut totals = (0, 0, 0, 0, 0);
        for program in programs.values().flatten() {
            if let Some(report) = program.report() {
                totals.0 += report.kernel_count();
                totals.1 += report.eager_nodes;
                totals.4 += report.epilogues;
            }
            totals.2 += program.fallbacks();
            totals.3 += program.generated();
        }
        totals
    }

    /// The program of a segment with this graph: found by structure, or compiled now.
    /// `kind` names the graph in logs and dump files: `captured` (a segment without a
    /// backward), `forward` or `backward` (the two halves of a partitioned segment).
    pub(crate) fn segment_program(&self, graph: &Graph, kind: &str) -> Arc<SegmentProgram> {
        let mut hasher = DefaultHasher::new();
        graph.hash(&mut hasher);
        let key = hasher.finish();
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = programs.entry(key).or_default();
        if let Some(found) = bucket.iter().find(|p| p.graph() == graph) {
            return found.clone();
        }
        let index = self.compiles.fetch_add(1, Ordering::Relaxed);
        self.dump(index, kind, graph);
        let settings = NativeSettings {
            strict: self.options.strict,
            dump: logs::dump_dir(self.options.dump_dir.as_deref())
                .map(|d| (d, format!("{}_{index:03}.{kind}", self.name))),
            name: format!("{}_{index:03}", self.name),
            rewrite: Some(ignis_compiler::rewrite::RewriteBudget {
                nodes: self.options.egraph.nodes,
                iterations: self.options.egraph.iterations,
                time_ms: self.options.egraph.time_ms,
            }),
            gpu_codegen: self.options.gpu_codegen.clone(),
        };
        let program = Arc::new(SegmentProgram::compile(graph.clone(), self.options.backend, settings));
        bucket.push(program.clone());
        program
    }

    /// Logs (`IGNIS_LOGS=graph`) and dumps (`IGNIS_DUMP_DIR`) one graph of compiled
    /// program number `index`.
    pub(crate) fn dump(&self, index: usize, kind: &str, graph: &Graph) {
        logs::log(Topic::Graph, || format!("{}: program {index}, {kind} graph\n{graph}", self.name));
        if let Some(dir) = logs::dump_dir(self.options.dump_dir.as_deref()) {
            let stem = format!("{}_{index:03}", self.name);
            logs::write_dump(&dir, &format!("{stem}.{kind}.txt"), &graph.to_string());
            logs::write_dump(&dir, &format!("{stem}.{kind}.dot"), &ignis_ir::dot::to_dot(graph));
        }
    }

    /// The number the next compiled program gets.
    pub(crate) fn next_index(&self) -> usize {
        self.compiles.load(Ordering::Relaxed)
    }
}
