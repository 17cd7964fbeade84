//! The assemblers that check generated code without a GPU: `ptxas` turns PTX into a cubin
//! for an NVIDIA architecture, `llvm-mc` and `ld.lld` turn AMDGPU assembly into a code object.
//!
//! `ptxas` comes from `IGNIS_CUDA_TOOLKIT/bin` (a CUDA toolkit, or the `nvidia/cu13` folder
//! of the `nvidia-cuda-nvcc` Python package that `scripts/setup.sh --gpu` links at
//! `.tools/cuda`), else from `PATH`. The LLVM tools come from `IGNIS_LLVM_BIN`, else from
//! `/usr/lib/llvm-22/bin`.

use super::{GpuCodegenError, Target};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `ptxas`, if it can be found.
pub fn ptxas() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("IGNIS_CUDA_TOOLKIT") {
        candidates.push(PathBuf::from(dir).join("bin/ptxas"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/cuda/bin/ptxas"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("ptxas")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// An LLVM 22 tool (`llvm-mc`, `ld.lld`).
pub fn llvm_tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("IGNIS_LLVM_BIN").map(PathBuf::from).unwrap_or_else(|| "/usr/lib/llvm-22/bin".into());
    dir.join(name)
}

fn run(mut command: Command, what: &str) -> Result<(), GpuCodegenError> {
    let output = command.output().map_err(|e| GpuCodegenError::Tool(format!("{what}: cannot run {command:?}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(GpuCodegenError::Tool(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Assembles `assembly` for `target` in `dir`, returning the object's path: a cubin from
/// `ptxas`, or an AMDGPU code object (an HSACO) from `llvm-mc` and `ld.lld`.
pub fn assemble(assembly: &str, target: &Target, dir: &Path, stem: &str) -> Result<PathBuf, GpuCodegenError> {
    let io = |e: std::io::Error| GpuCodegenError::Tool(format!("writing under {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let source = dir.join(format!("{stem}.{}", target.assembly_extension()));
    std::fs::write(&source, assembly).map_err(io)?;
    match target {
        Target::Cuda { .. } => {
            let ptxas = ptxas().ok_or_else(|| {
                GpuCodegenError::Tool(
                    "ptxas not found: run scripts/setup.sh --gpu, or set IGNIS_CUDA_TOOLKIT to a CUDA toolkit".into(),
                )
            })?;
            let cubin = dir.join(format!("{stem}.cubin"));
            let mut command = Command::new(ptxas);
            command.arg(format!("-arch={}", target.chip())).arg(&source).arg("-o").arg(&cubin);
            run(command, "ptxas")?;
            Ok(cubin)
        }
        Target::Rocm { .. } => {
            let object = dir.join(format!("{stem}.o"));
            let mut command = Command::new(llvm_tool("llvm-mc"));
            command
                .arg("-triple=amdgcn-amd-amdhsa")
                .arg(format!("-mcpu={}", target.chip()))
                .arg("-filetype=obj")
                .arg(&source)
                .arg("-o")
                .arg(&object);
            run(command, "llvm-mc")?;
            let hsaco = dir.join(format!("{stem}.hsaco"));
            let mut command = Command::new(llvm_tool("ld.lld"));
            command.arg("-shared").arg(&object).arg("-o").arg(&hsaco);
            run(command, "ld.lld")?;
            Ok(hsaco)
        }
    }
}
