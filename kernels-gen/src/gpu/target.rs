//! The GPU a kernel is generated for.

use std::fmt;

/// An NVIDIA compute capability (`sm_90` is `Cuda { sm: 90 }`) or an AMD chip (`gfx942`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Cuda { sm: u32 },
    Rocm { chip: String },
}

impl Target {
    /// The H100's compute capability, the default CUDA target.
    pub fn cuda() -> Target {
        Target::Cuda { sm: 90 }
    }

    /// The MI300's chip, the default ROCm target.
    pub fn rocm() -> Target {
        Target::Rocm { chip: "gfx942".to_string() }
    }

    /// The chip name LLVM knows: `sm_90`, `gfx942`.
    pub fn chip(&self) -> String {
        match self {
            Target::Cuda { sm } => format!("sm_{sm}"),
            Target::Rocm { chip } => chip.clone(),
        }
    }

    /// Threads that run in lockstep: a warp (32) or a wavefront (64 on the data-centre chips).
    pub fn warp_size(&self) -> u32 {
        match self {
            Target::Cuda { .. } => 32,
            Target::Rocm { .. } => 64,
        }
    }

    /// The file extension of the assembly: `ptx` or `s`.
    pub fn assembly_extension(&self) -> &'static str {
        match self {
            Target::Cuda { .. } => "ptx",
            Target::Rocm { .. } => "s",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Target::Cuda { .. } => write!(f, "cuda {}", self.chip()),
            Target::Rocm { .. } => write!(f, "rocm {}", self.chip()),
        }
    }
}
