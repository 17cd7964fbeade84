//! The host emulation of a GPU: device memory is host memory, a launch runs the kernel's
//! host form (its GPU code written to run every block and thread in turn, see
//! `ignis_kernels_gen::gpu::host`), and matmul is the CPU's `gemm`. Everything above the
//! driver (device storage, GPU programs, eager ops and compiled functions on a GPU) runs
//! unchanged, so it is tested on machines without a GPU.

use super::driver::{DeviceKernel, Driver, Gemm, Operand};
use crate::{Error, Result};
use std::alloc::Layout as AllocLayout;

/// Device allocations are aligned like CUDA's.
const ALIGN: usize = 256;

pub(crate) struct HostDriver;

impl Driver for HostDriver {
    fn allocate(&self, bytes: usize) -> Result<u64> {
        let layout = AllocLayout::from_size_align(bytes.max(1), ALIGN).map_err(|_| Error::OutOfMemory { bytes })?;
        // SAFETY: a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            return Err(Error::OutOfMemory { bytes });
        }
        Ok(ptr as u64)
    }

    unsafe fn free(&self, address: u64, bytes: usize) {
        let layout = AllocLayout::from_size_align(bytes.max(1), ALIGN).expect("allocated with this layout");
        // SAFETY: the caller's contract.
        unsafe { std::alloc::dealloc(address as *mut u8, layout) };
    }

    unsafe fn upload(&self, dst: u64, src: &[u8]) -> Result<()> {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }

    unsafe fn download(&self, dst: &mut [u8], src: u64) -> Result<()> {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    unsafe fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }

    unsafe fn launch(&self, kernel: &DeviceKernel, buffers: &[u64]) -> Result<()> {
        let Some(host) = &kernel.host else {
            return Err(Error::Driver {
                device: "host emulation".into(),
                operation: format!("launch of {}", kernel.name),
                message: "the kernel has no host form".into(),
            });
        };
        let mut pointers: Vec<u64> = buffers.to_vec();
        let mut arguments: Vec<*mut ()> = pointers.iter_mut().map(|p| p as *mut u64 as *mut ()).collect();
        // SAFETY: the entry takes one pointer per buffer (the caller's contract).
        unsafe { (host.entry)(arguments.as_mut_ptr()) };
        Ok(())
    }

    unsafe fn gemm_f32(&self, g: &Gemm) -> Result<()> {
        let strides = |o: &Operand| if o.column_major { (1, o.leading as isize) } else { (o.leading as isize, 1) };
        let (a_rows, a_cols) = strides(&g.a);
        let (b_rows, b_cols) = strides(&g.b);
        for batch in 0..g.batch {
            // SAFETY: the operands lie in allocations as described (the caller's contract).
            unsafe {
                gemm::gemm(
                    g.m,
                    g.n,
                    g.k,
                    (g.c as *mut f32).add(batch * g.m * g.n),
                    1,
                    g.n as isize,
                    false,
                    (g.a.address as *const f32).add(batch * g.a.batch_stride),
                    a_cols,
                    a_rows,
                    (g.b.address as *const f32).add(batch * g.b.batch_stride),
                    b_cols,
                    b_rows,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            };
        }
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "host emulation".into()
    }

    fn compute_capability(&self) -> Option<u32> {
        None
    }
}
