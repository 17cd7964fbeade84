//! The GPU code of a kernel run on the host: its host form (`write_host_mlir`) lowered by
//! LLVM for this machine and run by MLIR's execution engine. Tests compare it with the CPU
//! code to check the GPU code's arithmetic, indexing and reduction trees without a GPU.

use super::lower::{run as run_passes, with_context};
use super::{GpuCodegenError, Target, write_host_mlir};
use ignis_ir::kernel::Kernel;
use melior::ExecutionEngine;
use melior::ir::Module;
use std::sync::Arc;

const HOST_PIPELINE: &str = "builtin.module(convert-scf-to-cf, finalize-memref-to-llvm, convert-arith-to-llvm, \
     convert-cf-to-llvm, convert-func-to-llvm{use-bare-ptr-memref-call-conv=true}, reconcile-unrealized-casts)";

/// A kernel's host form compiled for this machine: `entry(arguments)` runs the whole
/// launch, argument `i` pointing at buffer `i`'s address.
pub struct HostKernel {
    pub entry: unsafe extern "C" fn(*mut *mut ()),
    /// Owns the code.
    pub engine: Arc<Engine>,
}

/// MLIR's execution engine, holding the compiled code.
pub struct Engine(#[allow(dead_code)] ExecutionEngine);

// SAFETY: the engine is only kept alive (its code is immutable once compiled) and dropped.
unsafe impl Send for Engine {}
unsafe impl Sync for Engine {}

/// Compiles `kernel`'s GPU code for `target` as a host function.
pub fn compile(kernel: &Kernel, target: &Target) -> Result<HostKernel, GpuCodegenError> {
    let source = write_host_mlir(kernel, target)?;
    with_context(&source.name, |context, failure| {
        let mut module = Module::parse(context, &source.mlir).ok_or_else(|| failure("parsing"))?;
        run_passes(context, &mut module, HOST_PIPELINE).map_err(|()| failure("lowering for the host"))?;
        let engine = ExecutionEngine::new(&module, 2, &[], false, false);
        // The engine wraps every function `f` in `_mlir_f(void **arguments)`, which reads
        // each argument through its pointer.
        let packed = engine.lookup(&format!("_mlir_{}", source.name));
        if packed.is_null() {
            return Err(failure("finding the compiled function"));
        }
        // SAFETY: `_mlir_*` wrappers have this signature.
        let entry: unsafe extern "C" fn(*mut *mut ()) = unsafe { std::mem::transmute(packed) };
        Ok(HostKernel { entry, engine: Arc::new(Engine(engine)) })
    })
}

/// Runs `kernel`'s GPU code for `target` on the host, over `buffers` (one per parameter, in
/// order, each at least as long as the kernel's accesses reach).
///
/// Panics if a buffer is shorter than that.
pub fn run(kernel: &Kernel, target: &Target, buffers: &mut [&mut [u8]]) -> Result<(), GpuCodegenError> {
    assert_eq!(buffers.len(), kernel.buffers.len(), "host run of {}: one buffer per parameter", kernel.name);
    let lengths = super::mlir::buffer_lengths(kernel);
    for (b, (param, bytes)) in kernel.buffers.iter().zip(buffers.iter()).enumerate() {
        let needed = lengths[b] * param.dtype.size();
        assert!(
            bytes.len() >= needed,
            "host run of {}: buffer b{b} has {} bytes, needs {needed}",
            kernel.name,
            bytes.len()
        );
    }
    let compiled = compile(kernel, target)?;
    let mut pointers: Vec<*mut u8> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    let mut arguments: Vec<*mut ()> = pointers.iter_mut().map(|p| p as *mut *mut u8 as *mut ()).collect();
    // SAFETY: the function takes one pointer per buffer and reaches no further than the
    // lengths checked above.
    unsafe { (compiled.entry)(arguments.as_mut_ptr()) };
    Ok(())
}
