//! From a kernel to callable machine code: the target ISA, one JIT module per kernel, and
//! the Cranelift IR text kept for dumps.

use super::KernelFn;
use super::emit;
use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName, types};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use ignis_ir::kernel::Kernel;
use std::sync::{Arc, Mutex, OnceLock};

/// Why a kernel has no native code (the caller falls back to the interpreter).
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("the host ISA is not supported by Cranelift: {0}")]
    Isa(String),
    #[error("kernel {kernel}: {message}")]
    Unsupported { kernel: String, message: String },
    #[error("kernel {kernel}: Cranelift rejected the function: {message}")]
    Cranelift { kernel: String, message: String },
}

/// A kernel's machine code; the code lives as long as any clone of this.
#[derive(Clone)]
pub struct CompiledKernel {
    pub entry: KernelFn,
    /// The Cranelift IR of the function, for dumps.
    pub clif: String,
    _code: Arc<Code>,
}

impl std::fmt::Debug for CompiledKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("CompiledKernel").field("entry", &(self.entry as *const u8)).finish()
    }
}

// SAFETY: the code is immutable once finalized and the entry point is a plain function.
unsafe impl Send for CompiledKernel {}
unsafe impl Sync for CompiledKernel {}

/// Owns the executable memory of one module and frees it when the last kernel goes.
struct Code(Mutex<Option<JITModule>>);

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(module) = self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            // SAFETY: the only entry point into this memory belongs to the `CompiledKernel`s
            // that held this `Arc`, and the last of them is gone.
            unsafe { module.free_memory() };
        }
    }
}

fn host_isa() -> Result<OwnedTargetIsa, CodegenError> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").map_err(|e| e.to_string())?;
        flags
            .set("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })
            .map_err(|e| e.to_string())?;
        let isa = cranelift_native::builder().map_err(|e| e.to_string())?;
        isa.finish(settings::Flags::new(flags)).map_err(|e| e.to_string())
    })
    .clone()
    .map_err(CodegenError::Isa)
}

/// Compiles a kernel to native code.
pub fn compile_kernel(kernel: &Kernel) -> Result<CompiledKernel, CodegenError> {
    let isa = host_isa()?;
    let pointer = isa.pointer_type();
    let target = isa.frontend_config();
    let mut signature = Signature::new(isa.default_call_conv());
    signature.params.push(AbiParam::new(pointer));
    signature.params.push(AbiParam::new(types::I64));
    signature.params.push(AbiParam::new(types::I64));

    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let id = module
        .declare_function(&kernel.name, Linkage::Export, &signature)
        .map_err(|e| CodegenError::Cranelift { kernel: kernel.name.clone(), message: e.to_string() })?;
    let mut function = Function::with_name_signature(UserFuncName::user(0, id.as_u32()), signature);
    emit::define(kernel, &mut function, pointer, target)?;
    let clif = function.display().to_string();

    let mut context = module.make_context();
    context.func = function;
    module
        .define_function(id, &mut context)
        .map_err(|e| CodegenError::Cranelift { kernel: kernel.name.clone(), message: format!("{e:?}") })?;
    module
        .finalize_definitions()
        .map_err(|e| CodegenError::Cranelift { kernel: kernel.name.clone(), message: e.to_string() })?;
    let address = module.get_finalized_function(id);
    // SAFETY: the function was declared with exactly this signature.
    let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
    Ok(CompiledKernel { entry, clif, _code: Arc::new(Code(Mutex::new(Some(module)))) })
}
