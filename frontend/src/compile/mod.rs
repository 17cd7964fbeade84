//! `compile()`: capture a function over tensors into graphs, guard and cache them, and run
//! them through a backend; graph breaks fall back to eager for what cannot be captured.
//!
//! `trace` is trace mode (lifting, recording, segments and breaks), `function` the
//! compiled function with its guarded cache, `guard` the checks, `segment` what one trace
//! leaves behind, `backend` what runs a segment, `explain` the report of breaks, `logs`
//! the `IGNIS_LOGS` and `IGNIS_DUMP_DIR` outputs.

mod args;
mod backend;
pub(crate) mod bisect;
mod dynamic;
mod explain;
mod function;
mod guard;
pub(crate) mod logs;
mod options;
mod segment;
mod shared;
pub(crate) mod trace;

pub use args::{Args, Outputs, Static};
pub use backend::Backend;
pub use explain::{Explanation, explain};
pub use function::{Compiled, compile, compile_with};
pub use guard::Mismatch;
#[cfg(feature = "gpu")]
pub use ignis_compiler::gpu::tools as gpu_tools;
pub use ignis_compiler::gpu::{GpuKernelCode, GpuReport, Target as GpuTarget};
pub use options::{CompileOptions, DynamicShapes, EGraphBudget};
pub use segment::{BreakRecord, SegmentRecord};
pub use shared::CompileStats;
pub use trace::{BreakReason, is_tracing};
