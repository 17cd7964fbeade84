//! `--codegen-only`: every workload's kernels written for a GPU, ahead of time.
//!
//! Each workload is compiled and called once on the CPU (the call traces it); the compiler
//! also writes every kernel of every compiled program for the GPU target. Nothing runs on a
//! GPU and nothing is timed but code generation.

use crate::cli::Args;
use crate::error::{Error, Result};
use crate::workloads::{GpuCodegen, Mode};
use ignis::compile::{GpuReport, GpuTarget};
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// What one workload's GPU code came to.
#[derive(Clone, Debug)]
pub struct CodegenRow {
    pub workload: String,
    /// Compiled programs (a training step has a forward and a backward).
    pub programs: usize,
    pub kernels: usize,
    /// Kernels the GPU code does not cover.
    pub refused: usize,
    /// Nodes outside kernels: matmuls and what runs on the eager kernels.
    pub eager_nodes: usize,
    pub mlir_lines: usize,
    /// Lines of PTX or AMDGPU assembly; `None` without the `gpu` feature.
    pub assembly_lines: Option<usize>,
    pub codegen_ms: f64,
    /// Every compiled program's report: each kernel's MLIR and assembly.
    pub reports: Vec<GpuReport>,
}

/// Writes every selected workload's GPU code (into `--dump DIR/<workload>` if given).
pub fn run(args: &Args) -> Result<Vec<CodegenRow>> {
    let target = args.gpu_target()?;
    let mut rows = Vec::new();
    for workload in args.selected_workloads() {
        eprintln!("writing {} for {target} ...", workload.name());
        let dump_dir = args.dump.as_ref().map(|d| d.join(workload.name()));
        if let Some(dir) = &dump_dir {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.clone(), source })?;
        }
        let reports = Arc::new(Mutex::new(Vec::new()));
        let mode = Mode::GpuCodegen(GpuCodegen {
            target: target.clone(),
            dump_dir,
            name: workload.name().to_lowercase(),
            reports: reports.clone(),
        });
        let Some(mut prepared) = workload.prepare(mode) else { continue };
        (prepared.call)();
        let reports = reports.lock().unwrap_or_else(|e| e.into_inner()).clone();
        rows.push(row(workload.name(), &reports));
    }
    Ok(rows)
}

fn row(workload: &str, reports: &[GpuReport]) -> CodegenRow {
    let lowered = reports.iter().flat_map(|r| &r.kernels).all(|k| k.assembly.is_some());
    CodegenRow {
        workload: workload.to_string(),
        programs: reports.len(),
        kernels: reports.iter().map(|r| r.kernels.len()).sum(),
        refused: reports.iter().map(|r| r.refused.len()).sum(),
        eager_nodes: reports.iter().map(|r| r.eager_nodes).sum(),
        mlir_lines: reports.iter().map(|r| r.mlir().lines().count()).sum(),
        assembly_lines: lowered.then(|| reports.iter().map(|r| r.assembly().lines().count()).sum()),
        codegen_ms: reports.iter().map(|r| r.codegen_ms).sum(),
        reports: reports.to_vec(),
    }
}

/// The table `--codegen-only` prints.
pub fn table(target: &GpuTarget, rows: &[CodegenRow]) -> String {
    let mut out = String::new();
    let assembly = match target {
        GpuTarget::Cuda { .. } => "ptx_lines",
        GpuTarget::Rocm { .. } => "asm_lines",
    };
    writeln!(out, "GPU code for {target} (ahead of time: nothing was launched)").unwrap();
    writeln!(
        out,
        "{:<9} {:>8} {:>8} {:>8} {:>12} {:>11} {:>11} {:>11}",
        "workload", "programs", "kernels", "refused", "eager_nodes", "mlir_lines", assembly, "codegen_ms"
    )
    .unwrap();
    for r in rows {
        // Without the gpu feature there is MLIR but no assembly.
        let lines = r.assembly_lines.map_or("-".to_string(), |n| n.to_string());
        writeln!(
            out,
            "{:<9} {:>8} {:>8} {:>8} {:>12} {:>11} {:>11} {:>11.1}",
            r.workload, r.programs, r.kernels, r.refused, r.eager_nodes, r.mlir_lines, lines, r.codegen_ms
        )
        .unwrap();
    }
    out
}
