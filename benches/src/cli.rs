//! Command-line arguments. Parsing only: running the workloads lives in `lib.rs`.

use crate::error::{Error, Result};
use crate::workloads::Workload;
use clap::{Parser, ValueEnum};
use ignis::compile::GpuTarget;
use std::path::PathBuf;

/// Runs the standard ignis workloads (W1..W7 of BENCHMARKS.md) and reports eager and compiled
/// timings next to the machine's limits.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "ignis-bench",
    version,
    after_help = "\
Workloads: W1 gelu_tanh(x*w+b), W2 layer_norm, W3 softmax (all [4096,1024]), W4 MLP forward,
W5 MLP training step, W6f/W6b transformer block forward / forward+backward, W7 100 tiny ops.
All fp32, fixed seeds, inputs from randn. W4's Linear is x.matmul(w) + b with w stored
[in, out] (randn / sqrt(in)); GELU is the tanh form. Times are medians per call after
warm-up; columns that ignis cannot produce yet print \"not yet\" (null in JSON).

Limits: the memory bandwidth is always measured (a parallel copy of a 512 MiB buffer, best of
5, read+write bytes counted as STREAM does); it gives floor_ms for W1-W3. --limits quick also
times a 1024^3 f32 matmul, --limits full adds 4096^3 (about 137 GFLOP per call, several seconds
on a small machine), --limits bandwidth skips the matmuls."
)]
pub struct Args {
    /// Workloads to run, comma separated; every workload when omitted.
    #[arg(long = "workload", value_name = "W1,W2,...", value_delimiter = ',', ignore_case = true)]
    pub workloads: Vec<Workload>,

    /// Timed calls per workload [default: 50 for W1-W3, 30 for W4/W6, 20 for W5, 300 for W7;
    /// BENCHMARKS.md asks for at least 20].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub iters: Option<u32>,

    /// Threads for the eager kernels and the bandwidth copy [default: all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,

    /// Where the workloads run.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,

    /// Also write the results as a JSON array to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also draw eager vs compiled per workload as an SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Which machine limits to measure besides the memory bandwidth.
    #[arg(long, value_enum, default_value_t = LimitsChoice::Quick)]
    pub limits: LimitsChoice,

    /// With --device cuda or rocm: trace each workload (one call on the CPU) and write its
    /// kernels for the GPU (MLIR; with the gpu feature also the lowered MLIR and the PTX or
    /// AMDGPU assembly) without launching anything and without timing.
    #[arg(long)]
    pub codegen_only: bool,

    /// Where --codegen-only writes each workload's dumps (DIR/<workload>/).
    #[arg(long, value_name = "DIR", requires = "codegen_only")]
    pub dump: Option<PathBuf>,

    /// The GPU architecture to write code for: sm_80, sm_90 (cuda) or gfx90a, gfx942 (rocm)
    /// [default: sm_90 for cuda, gfx942 for rocm].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    Rocm,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LimitsChoice {
    /// Memory bandwidth only.
    Bandwidth,
    /// Bandwidth and a 1024^3 matmul.
    Quick,
    /// Bandwidth and 1024^3 and 4096^3 matmuls.
    Full,
}

impl Args {
    /// The workloads asked for, in the order given; all of them when none was named.
    pub fn selected_workloads(&self) -> Vec<Workload> {
        if self.workloads.is_empty() { Workload::ALL.to_vec() } else { self.workloads.clone() }
    }

    /// Refuses what this build cannot do, before any time is spent measuring.
    pub fn check_supported(&self) -> Result<()> {
        match (self.device, self.codegen_only) {
            (DeviceChoice::Cpu, false) => Ok(()),
            (DeviceChoice::Cpu, true) => Err(Error::CodegenNeedsGpu),
            (_, true) => self.gpu_target().map(drop),
            (DeviceChoice::Cuda, false) => match ignis::device_name(ignis::Device::Cuda(0)) {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::DeviceUnavailable {
                    device: "cuda".into(),
                    reason: format!("{e}; --codegen-only writes the GPU code without a GPU"),
                }),
            },
            (DeviceChoice::Rocm, false) => Err(Error::DeviceUnavailable {
                device: "rocm".into(),
                reason: "ignis has no ROCm runtime (no HIP); --codegen-only writes AMDGPU code objects".into(),
            }),
        }
    }

    /// The GPU `--device` and `--arch` name.
    pub fn gpu_target(&self) -> Result<GpuTarget> {
        let arch = self.arch.as_deref();
        match (self.device, arch) {
            (DeviceChoice::Cuda, None) => Ok(GpuTarget::cuda()),
            (DeviceChoice::Cuda, Some(a)) => match a.strip_prefix("sm_").and_then(|n| n.parse::<u32>().ok()) {
                Some(sm) if sm >= 70 => Ok(GpuTarget::Cuda { sm }),
                _ => Err(Error::Arch { arch: a.to_string(), device: "cuda", expected: "sm_70 or later, e.g. sm_90" }),
            },
            (DeviceChoice::Rocm, None) => Ok(GpuTarget::rocm()),
            (DeviceChoice::Rocm, Some(a)) if a.starts_with("gfx") && a.len() > 3 => {
                Ok(GpuTarget::Rocm { chip: a.to_string() })
            }
            (DeviceChoice::Rocm, Some(a)) => {
                Err(Error::Arch { arch: a.to_string(), device: "rocm", expected: "a gfx chip, e.g. gfx942" })
            }
            (DeviceChoice::Cpu, _) => Err(Error::CodegenNeedsGpu),
        }
    }
}
