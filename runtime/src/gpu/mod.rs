//! GPU devices (feature `gpu`): device memory behind a caching allocator, copies between
//! host and device, kernel launches and f32 matmul, through a driver:
//! - CUDA (`cuda.rs`): the driver API and cuBLAS through cudarc, loaded at run time;
//! - the host emulation (`host.rs`): device memory in host RAM, kernels run through the
//!   host form of their GPU code, matmul through `gemm`. With [`emulate_on_host`] on,
//!   `Device::Cuda(n)` opens it instead of a GPU, so everything above the driver runs and is
//!   tested on machines without one.

mod cuda;
mod driver;
mod host;
mod memory;
pub mod program;
#[cfg(test)]
mod tests;

pub use driver::{DeviceKernel, Gemm, HostEntry, Operand};
pub use memory::DeviceMemory;

use crate::{Device, Error, Result};
use driver::Driver;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

static EMULATE: AtomicBool = AtomicBool::new(false);

/// From now on `Device::Cuda(n)` opens the host emulation (`true`) or a real GPU (`false`,
/// the default). `IGNIS_GPU=host` in the environment turns it on at start.
pub fn emulate_on_host(on: bool) {
    EMULATE.store(on, Ordering::Relaxed);
}

fn emulating() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    EMULATE.load(Ordering::Relaxed) || *FROM_ENV.get_or_init(|| std::env::var("IGNIS_GPU").is_ok_and(|v| v == "host"))
}

/// An open GPU: its driver and its memory cache.
pub struct GpuDevice {
    device: Device,
    emulated: bool,
    driver: Box<dyn Driver>,
    cache: memory::Cache,
}

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "GpuDevice({}, {})", self.device, self.driver.describe())
    }
}

impl GpuDevice {
    /// The open device behind `device` (opened on first use), or why there is none.
    pub fn open(device: Device) -> Result<Arc<GpuDevice>> {
        static OPEN: Mutex<Vec<(Device, bool, Arc<GpuDevice>)>> = Mutex::new(Vec::new());
        let Device::Cuda(ordinal) = device else {
            return Err(Error::NoDevice { device: device.to_string(), reason: "not a GPU".into() });
        };
        let emulated = emulating();
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, found)) = open.iter().find(|(d, e, _)| *d == device && *e == emulated) {
            return Ok(found.clone());
        }
        let driver: Box<dyn Driver> =
            if emulated { Box::new(host::HostDriver) } else { Box::new(cuda::CudaDriver::open(ordinal)?) };
        let opened = Arc::new(GpuDevice { device, emulated, driver, cache: memory::Cache::default() });
        open.push((device, emulated, opened.clone()));
        Ok(opened)
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Whether this is the host emulation rather than a GPU.
    pub fn is_emulated(&self) -> bool {
        self.emulated
    }

    /// The card's name (or "host emulation").
    pub fn describe(&self) -> String {
        self.driver.describe()
    }

    /// The NVIDIA compute capability as `major * 10 + minor`; `None` for the host emulation.
    pub fn compute_capability(&self) -> Option<u32> {
        self.driver.compute_capability()
    }

    /// `bytes` of device memory, reused from the cache where a freed block fits.
    pub fn allocate(self: &Arc<Self>, bytes: usize) -> Result<DeviceMemory> {
        memory::allocate(self, bytes)
    }

    /// Copies `src` to the start of `dst`.
    pub fn upload(&self, dst: &DeviceMemory, src: &[u8]) -> Result<()> {
        assert!(src.len() <= dst.bytes(), "upload of {} bytes into a block of {}", src.len(), dst.bytes());
        // SAFETY: the range lies in `dst`'s block (checked).
        unsafe { self.driver.upload(dst.address(), src) }
    }

    /// Copies the start of `src` into `dst`, after the work issued before.
    pub fn download(&self, dst: &mut [u8], src: &DeviceMemory) -> Result<()> {
        assert!(dst.len() <= src.bytes(), "download of {} bytes from a block of {}", dst.len(), src.bytes());
        // SAFETY: the range lies in `src`'s block (checked).
        unsafe { self.driver.download(dst, src.address()) }
    }

    /// Copies `bytes` from `src + src_offset` to `dst + dst_offset`.
    pub fn copy(
        &self,
        dst: &DeviceMemory,
        dst_offset: usize,
        src: &DeviceMemory,
        src_offset: usize,
        bytes: usize,
    ) -> Result<()> {
        assert!(dst_offset + bytes <= dst.bytes() && src_offset + bytes <= src.bytes(), "copy out of bounds");
        // SAFETY: both ranges lie in their blocks (checked); distinct blocks do not overlap
        // and a block is not copied onto itself.
        unsafe { self.driver.copy(dst.address() + dst_offset as u64, src.address() + src_offset as u64, bytes) }
    }

    /// Launches `kernel` on device addresses (block addresses plus byte offsets).
    ///
    /// # Safety
    /// `buffers` are the kernel's buffers in order, each as long as its accesses reach.
    pub unsafe fn launch(&self, kernel: &DeviceKernel, buffers: &[u64]) -> Result<()> {
        if kernel.blocks == 0 {
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe { self.driver.launch(kernel, buffers) }
    }

    /// # Safety
    /// The operands lie in device memory as `gemm` describes.
    pub unsafe fn gemm_f32(&self, gemm: &Gemm) -> Result<()> {
        if gemm.m * gemm.n * gemm.batch == 0 {
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe { self.driver.gemm_f32(gemm) }
    }

    pub fn synchronize(&self) -> Result<()> {
        self.driver.synchronize()
    }

    /// Bytes held by the cache for reuse, by block size.
    pub fn cached_bytes(&self) -> usize {
        self.cache.cached_bytes()
    }

    /// Frees every cached block.
    pub fn empty_cache(&self) {
        self.cache.empty(&*self.driver);
    }
}
