//! NVIDIA GPUs through the CUDA driver API and cuBLAS (cudarc, loaded at run time: a build
//! needs no CUDA, and a machine without a driver gets `Error::NoDevice`).
//!
//! One context (the device's primary context) and its default stream per device; PTX is
//! loaded once per kernel and JIT-compiled by the driver for the card.

use super::driver::{DeviceKernel, Driver, Gemm, Operand};
use crate::{Error, Result};
use cudarc::cublas::{result as blas, sys as blas_sys};
use cudarc::driver::{result as cu, sys};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Mutex;

pub(crate) struct CudaDriver {
    ordinal: usize,
    name: String,
    capability: u32,
    context: sys::CUcontext,
    blas: blas_sys::cublasHandle_t,
    /// Loaded functions by PTX text and entry name.
    functions: Mutex<HashMap<(String, String), sys::CUfunction>>,
}

// SAFETY: the context and the cuBLAS handle are used only after binding the context to the
// calling thread, and the function table is behind a mutex.
unsafe impl Send for CudaDriver {}
unsafe impl Sync for CudaDriver {}

fn failed(ordinal: usize, operation: &str, e: impl std::fmt::Debug) -> Error {
    Error::Driver { device: format!("cuda:{ordinal}"), operation: operation.to_string(), message: format!("{e:?}") }
}

impl CudaDriver {
    /// Opens GPU `ordinal`, or says why there is none.
    pub(crate) fn open(ordinal: usize) -> Result<CudaDriver> {
        let none = |reason: String| Error::NoDevice { device: format!("cuda:{ordinal}"), reason };
        // SAFETY: only checks whether the library can be loaded.
        if !unsafe { sys::is_culib_present() } {
            return Err(none("the CUDA driver library (libcuda.so) is not installed".into()));
        }
        // SAFETY: as above, for cuBLAS.
        if !unsafe { blas_sys::is_culib_present() } {
            return Err(none("cuBLAS (libcublas.so) is not installed".into()));
        }
        cu::init().map_err(|e| none(format!("cuInit failed: {e:?}")))?;
        let count = cu::device::get_count().map_err(|e| none(format!("{e:?}")))?;
        if ordinal as i32 >= count {
            return Err(none(format!("the driver sees {count} GPUs")));
        }
        let device = cu::device::get(ordinal as i32).map_err(|e| none(format!("{e:?}")))?;
        let name = cu::device::get_name(device).unwrap_or_else(|_| "CUDA GPU".into());
        let attribute = |a| {
            // SAFETY: `device` is valid.
            unsafe { cu::device::get_attribute(device, a) }.map_err(|e| failed(ordinal, "device attributes", e))
        };
        let major = attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        let capability = (major * 10 + minor) as u32;
        // SAFETY: `device` is valid; the primary context lives as long as the process.
        let context = unsafe { cu::primary_ctx::retain(device) }.map_err(|e| failed(ordinal, "context", e))?;
        // SAFETY: a context just retained.
        unsafe { cu::ctx::set_current(context) }.map_err(|e| failed(ordinal, "context", e))?;
        let blas = blas::create_handle().map_err(|e| failed(ordinal, "cuBLAS handle", e))?;
        Ok(CudaDriver { ordinal, name, capability, context, blas, functions: Mutex::new(HashMap::new()) })
    }

    fn bind(&self) -> Result<()> {
        // SAFETY: the context was retained in `open` and is never released.
        unsafe { cu::ctx::set_current(self.context) }.map_err(|e| failed(self.ordinal, "binding the context", e))
    }

    fn function(&self, kernel: &DeviceKernel) -> Result<sys::CUfunction> {
        let ptx = kernel.ptx.as_ref().ok_or_else(|| failed(self.ordinal, "launch", "the kernel has no PTX"))?;
        let mut functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&f) = functions.get(&(ptx.clone(), kernel.name.clone())) {
            return Ok(f);
        }
        let image = CString::new(ptx.as_str()).map_err(|e| failed(self.ordinal, "loading PTX", e))?;
        // SAFETY: a NUL-terminated PTX image; the module stays loaded for the process.
        let module = unsafe { cu::module::load_data(image.as_ptr() as *const _) }
            .map_err(|e| failed(self.ordinal, &format!("loading the PTX of {}", kernel.name), e))?;
        let entry = CString::new(kernel.name.as_str()).map_err(|e| failed(self.ordinal, "kernel name", e))?;
        // SAFETY: a module just loaded.
        let f = unsafe { cu::module::get_function(module, entry) }
            .map_err(|e| failed(self.ordinal, &format!("finding {}", kernel.name), e))?;
        functions.insert((ptx.clone(), kernel.name.clone()), f);
        Ok(f)
    }
}

impl Driver for CudaDriver {
    fn allocate(&self, bytes: usize) -> Result<u64> {
        self.bind()?;
        // SAFETY: a plain allocation on the bound context.
        unsafe { cu::malloc_sync(bytes.max(1)) }.map_err(|_| Error::OutOfMemory { bytes })
    }

    unsafe fn free(&self, address: u64, _bytes: usize) {
        if self.bind().is_ok() {
            // SAFETY: the caller's contract; a failure here leaks the block.
            let _ = unsafe { cu::free_sync(address) };
        }
    }

    unsafe fn upload(&self, dst: u64, src: &[u8]) -> Result<()> {
        self.bind()?;
        // SAFETY: the caller's contract.
        unsafe { cu::memcpy_htod_sync(dst, src) }.map_err(|e| failed(self.ordinal, "copy to the device", e))
    }

    unsafe fn download(&self, dst: &mut [u8], src: u64) -> Result<()> {
        self.bind()?;
        self.synchronize()?;
        // SAFETY: the caller's contract.
        unsafe { cu::memcpy_dtoh_sync(dst, src) }.map_err(|e| failed(self.ordinal, "copy to the host", e))
    }

    unsafe fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        self.bind()?;
        // SAFETY: the caller's contract.
        unsafe { cu::memcpy_dtod_sync(dst, src, bytes) }.map_err(|e| failed(self.ordinal, "copy on the device", e))
    }

    unsafe fn launch(&self, kernel: &DeviceKernel, buffers: &[u64]) -> Result<()> {
        self.bind()?;
        let f = self.function(kernel)?;
        let mut pointers: Vec<u64> = buffers.to_vec();
        let mut params: Vec<*mut std::ffi::c_void> =
            pointers.iter_mut().map(|p| p as *mut u64 as *mut std::ffi::c_void).collect();
        // SAFETY: the kernel takes one pointer per buffer (the caller's contract); its
        // workgroup memory is static, so no dynamic shared memory is passed.
        unsafe {
            cu::launch_kernel(f, (kernel.blocks, 1, 1), (kernel.threads, 1, 1), 0, cu::stream::null(), &mut params)
        }
        .map_err(|e| failed(self.ordinal, &format!("launch of {}", kernel.name), e))
    }

    /// cuBLAS is column-major: a row-major matrix is, to it, its own transpose stored
    /// column-major. So the row-major `c = a @ b` is computed as `c^T = b^T @ a^T` with the
    /// operands swapped; a row-major operand is read as is (its transpose is what cuBLAS
    /// sees) and a column-major one transposed.
    unsafe fn gemm_f32(&self, g: &Gemm) -> Result<()> {
        self.bind()?;
        let op = |o: &Operand| {
            if o.column_major {
                blas_sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                blas_sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: the caller's contract; the handle belongs to the bound context.
        unsafe {
            blas::sgemm_strided_batched(
                self.blas,
                op(&g.b),
                op(&g.a),
                g.n as i32,
                g.m as i32,
                g.k as i32,
                &alpha,
                g.b.address as *const f32,
                g.b.leading as i32,
                g.b.batch_stride as i64,
                g.a.address as *const f32,
                g.a.leading as i32,
                g.a.batch_stride as i64,
                &beta,
                g.c as *mut f32,
                g.n as i32,
                (g.m * g.n) as i64,
                g.batch as i32,
            )
        }
        .map_err(|e| failed(self.ordinal, "cuBLAS sgemm", e))
    }

    fn synchronize(&self) -> Result<()> {
        self.bind()?;
        cu::ctx::synchronize().map_err(|e| failed(self.ordinal, "synchronize", e))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn compute_capability(&self) -> Option<u32> {
        Some(self.capability)
    }
}
