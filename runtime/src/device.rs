//! Where a tensor's storage lives.

use std::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// The NVIDIA GPU with this ordinal (`cuda:0`). Needs the `gpu` feature and a CUDA
    /// driver at run time; `crate::gpu::GpuDevice::open` says why one is not available.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}
