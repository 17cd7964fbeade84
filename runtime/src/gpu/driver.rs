//! What a GPU driver does for the runtime: memory, copies, kernel launches, matmul.

use crate::Result;
use std::any::Any;
use std::sync::Arc;

/// A kernel ready to launch: its code for each kind of driver, and its grid.
pub struct DeviceKernel {
    /// The entry point's name in the PTX.
    pub name: String,
    pub blocks: u32,
    pub threads: u32,
    /// PTX text, for CUDA.
    pub ptx: Option<String>,
    /// The kernel's host form, for the host emulation.
    pub host: Option<HostEntry>,
}

impl std::fmt::Debug for DeviceKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "DeviceKernel({}, {} x {})", self.name, self.blocks, self.threads)
    }
}

/// A compiled host function that runs a whole launch: `entry(arguments)` where argument `i`
/// points at buffer `i`'s address. `keep` owns the code.
pub struct HostEntry {
    pub entry: unsafe extern "C" fn(*mut *mut ()),
    pub keep: Arc<dyn Any + Send + Sync>,
}

/// One f32 matrix operand of a matmul, row-major or column-major in memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Operand {
    pub address: u64,
    /// Elements between consecutive rows (row-major) or columns (column-major).
    pub leading: usize,
    /// Whether the matrix is stored column by column (a transposed view of a row-major one).
    pub column_major: bool,
    /// Elements between consecutive matrices of a batch (0: the same matrix for all).
    pub batch_stride: usize,
}

/// `c[b] = a[b] @ b[b]` for `batch` products of `[m, k] @ [k, n]`; `c` is row-major and
/// contiguous (`n` elements per row, `m * n` per matrix).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub a: Operand,
    pub b: Operand,
    pub c: u64,
}

/// A GPU's driver. Addresses are device addresses (host addresses for the host emulation);
/// work is ordered as issued, and `download` waits for what came before it.
pub(crate) trait Driver: Send + Sync {
    fn allocate(&self, bytes: usize) -> Result<u64>;
    /// # Safety
    /// `address` came from `allocate(bytes)` and is not used afterwards.
    unsafe fn free(&self, address: u64, bytes: usize);
    /// # Safety
    /// `dst .. dst + src.len()` lies in one allocation.
    unsafe fn upload(&self, dst: u64, src: &[u8]) -> Result<()>;
    /// # Safety
    /// `src .. src + dst.len()` lies in one allocation.
    unsafe fn download(&self, dst: &mut [u8], src: u64) -> Result<()>;
    /// # Safety
    /// Both ranges lie in allocations and do not overlap.
    unsafe fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<()>;
    /// # Safety
    /// `buffers` are the kernel's buffers, in order, each as long as its accesses reach.
    unsafe fn launch(&self, kernel: &DeviceKernel, buffers: &[u64]) -> Result<()>;
    /// # Safety
    /// The operands lie in allocations as `gemm` describes.
    unsafe fn gemm_f32(&self, gemm: &Gemm) -> Result<()>;
    fn synchronize(&self) -> Result<()>;
    /// The device's name, for messages (`NVIDIA H100 80GB HBM3`).
    fn describe(&self) -> String;
    /// The NVIDIA compute capability as `major * 10 + minor` (90 on an H100); `None` for
    /// the host emulation.
    fn compute_capability(&self) -> Option<u32>;
}
