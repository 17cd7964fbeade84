//! `CompileOptions`: how `compile()` captures, caches and runs a function.

use super::backend::Backend;
use ignis_compiler::gpu::Target as GpuTarget;
use std::path::PathBuf;

/// Whether dims that vary between calls become symbolic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DynamicShapes {
    /// Every new shape is a new trace.
    Off,
    /// Dims that varied across recompiles become symbolic once the limit is reached.
    #[default]
    Auto,
    /// Symbolic from the first recompile on.
    On,
}

/// Budgets of the e-graph rewrite (used by the optimizing compiler).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EGraphBudget {
    pub nodes: usize,
    pub iterations: usize,
    pub time_ms: u64,
}

impl Default for EGraphBudget {
    fn default() -> Self {
        EGraphBudget { nodes: 20_000, iterations: 12, time_ms: 200 }
    }
}

/// Options of one compiled function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CompileOptions {
    pub backend: Backend,
    pub dynamic: DynamicShapes,
    /// How many guard sets (traced programs) one function keeps before new ones run eagerly.
    pub recompile_limit: usize,
    /// Turn every fallback (a graph break, eager execution past the recompile limit) into a
    /// panic: for tests that must prove a function is captured whole.
    pub strict: bool,
    /// Where to write the captured graphs (overrides `IGNIS_DUMP_DIR`).
    pub dump_dir: Option<PathBuf>,
    pub egraph: EGraphBudget,
    /// The name used in logs and dump files (default: `fn`).
    pub name: Option<String>,
    /// Also write every compiled kernel for this GPU (MLIR, and with the `gpu` feature its
    /// lowering and PTX or AMDGPU assembly), into the dumps and `Compiled::gpu_reports`.
    /// Ahead of time: nothing runs on a GPU, so no GPU is needed.
    pub gpu_codegen: Option<GpuTarget>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            backend: Backend::default(),
            dynamic: DynamicShapes::default(),
            recompile_limit: 8,
            strict: false,
            dump_dir: None,
            egraph: EGraphBudget::default(),
            name: None,
            gpu_codegen: None,
        }
    }
}

impl CompileOptions {
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
    pub fn dynamic(mut self, dynamic: DynamicShapes) -> Self {
        self.dynamic = dynamic;
        self
    }
    pub fn recompile_limit(mut self, limit: usize) -> Self {
        self.recompile_limit = limit;
        self
    }
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
    pub fn dump_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dump_dir = Some(dir.into());
        self
    }
    pub fn egraph(mut self, budget: EGraphBudget) -> Self {
        self.egraph = budget;
        self
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn gpu_codegen(mut self, target: GpuTarget) -> Self {
        self.gpu_codegen = Some(target);
        self
    }
}
