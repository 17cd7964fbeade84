//! From a kernel to callable machine code: the target ISA, Cranelift's compilation to bytes,
//! and the executable memory those bytes are copied into.
//!
//! The kernels call nothing: math functions are inline and constant pools are addressed
//! relative to the code, so the bytes Cranelift returns run wherever they are copied, today
//! or in another process (which is what makes them cacheable on disk). A kernel whose code
//! does need linking (Cranelift lowers `fma`, `floor`, `ceil` and `nearest` to calls into the
//! C library on x86 hosts without FMA or SSE4.1) is linked by a `JITModule` instead and is
//! never written to disk.

use super::KernelFn;
use super::{emit, sizes};
use cranelift_codegen::Context;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName, types};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use ignis_ir::kernel::Kernel;
use std::sync::{Arc, OnceLock};

/// Why a kernel has no native code (the caller falls back to the interpreter).
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("the host ISA is not supported by Cranelift: {0}")]
    Isa(String),
    #[error("kernel {kernel}: {message}")]
    Unsupported { kernel: String, message: String },
    #[error("kernel {kernel}: Cranelift rejected the function: {message}")]
    Cranelift { kernel: String, message: String },
    #[error("kernel {kernel}: cannot map its {bytes} bytes of code executable: {message}")]
    Memory { kernel: String, bytes: usize, message: String },
}

/// A kernel's machine code, which every kernel of the same shape shares, and the kernel's
/// own size table; the code lives as long as any clone of this.
#[derive(Clone)]
pub struct CompiledKernel {
    pub entry: KernelFn,
    /// The Cranelift IR of the function, for dumps.
    pub clif: String,
    /// The numbers the code reads at run time (extents, strides, offsets): pass
    /// `sizes.as_ptr()` to `entry`.
    pub sizes: Vec<i64>,
    code: Arc<Code>,
}

impl CompiledKernel {
    /// The same code with the size table of one kernel of its shape.
    pub(crate) fn with_sizes(self, sizes: Vec<i64>) -> CompiledKernel {
        CompiledKernel { sizes, ..self }
    }

    /// Whether the code was linked against the C library (see the module comment): such code
    /// is only valid in this process.
    pub fn is_linked(&self) -> bool {
        matches!(*self.code, Code::Linked(_))
    }
}

impl std::fmt::Debug for CompiledKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("CompiledKernel")
            .field("entry", &(self.entry as *const u8))
            .field("linked", &self.is_linked())
            .finish()
    }
}

/// The memory a kernel's entry point points into; unmapped or freed with the last clone.
#[expect(dead_code, reason = "the fields are held for their drop: no code reads them")]
enum Code {
    /// Self-contained bytes in a private read+execute mapping.
    Mapped(memmap2::Mmap),
    Linked(Box<LinkedModule>),
}

// SAFETY: the code is immutable once mapped or finalized, and the JIT module of linked code is
// only touched again when the last `Arc` drops it, on whichever thread that happens.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

struct LinkedModule(Option<JITModule>);

impl Drop for LinkedModule {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: the only entry point into this memory belongs to the `CompiledKernel`s
            // that held the `Arc<Code>` around this module, and the last of them is gone.
            unsafe { module.free_memory() };
        }
    }
}

/// What code generation produced before it is made executable.
pub(crate) enum Generated {
    /// Position-independent code with no relocations: what the disk cache stores.
    Bytes { clif: String, code: Vec<u8> },
    /// Code that needed linking, already executable and only valid in this process.
    Linked(CompiledKernel),
}

/// The ISA of this machine, with the settings every kernel is compiled with.
pub(crate) fn host_isa() -> Result<OwnedTargetIsa, CodegenError> {
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

/// Compiles a kernel to native code, with no cache.
pub fn compile_kernel(kernel: &Kernel) -> Result<CompiledKernel, CodegenError> {
    let (shape, sizes) = sizes::split(kernel);
    let code = match generate(&shape, &kernel.name, &host_isa()?)? {
        Generated::Bytes { clif, code } => map(&kernel.name, clif, &code)?,
        Generated::Linked(compiled) => compiled,
    };
    Ok(code.with_sizes(sizes))
}

fn function(shape: &Kernel, name: &str, isa: &dyn TargetIsa) -> Result<Function, CodegenError> {
    let pointer = isa.pointer_type();
    let mut signature = Signature::new(isa.default_call_conv());
    signature.params.push(AbiParam::new(pointer));
    signature.params.push(AbiParam::new(pointer));
    signature.params.push(AbiParam::new(types::I64));
    signature.params.push(AbiParam::new(types::I64));
    signature.params.push(AbiParam::new(pointer));
    let mut function = Function::with_name_signature(UserFuncName::user(0, 0), signature);
    emit::define(shape, name, &mut function, pointer, isa.frontend_config())?;
    Ok(function)
}

/// Runs Cranelift on a kernel shape ([`sizes::split`]) for `isa`; `name` is the kernel's, for
/// messages. The result has an empty size table.
pub(crate) fn generate(shape: &Kernel, name: &str, isa: &OwnedTargetIsa) -> Result<Generated, CodegenError> {
    let function = function(shape, name, &**isa)?;
    let clif = function.display().to_string();
    let mut context = Context::for_function(function);
    let compiled = context
        .compile(&**isa, &mut ControlPlane::default())
        .map_err(|e| CodegenError::Cranelift { kernel: name.to_string(), message: format!("{:?}", e.inner) })?;
    let relocations = compiled.buffer.relocs();
    if relocations.is_empty() {
        return Ok(Generated::Bytes { clif, code: compiled.code_buffer().to_vec() });
    }
    tracing::debug!(
        target: "ignis::codegen",
        "kernel {}: {} relocations ({:?}), linked in memory and not cached on disk",
        name,
        relocations.len(),
        relocations[0].target,
    );
    Ok(Generated::Linked(link(shape, name, clif, isa)?))
}

/// Compiles and links a kernel shape through a JIT module (which resolves C library calls).
fn link(shape: &Kernel, name: &str, clif: String, isa: &OwnedTargetIsa) -> Result<CompiledKernel, CodegenError> {
    let cranelift = |message: String| CodegenError::Cranelift { kernel: name.to_string(), message };
    let function = function(shape, name, &**isa)?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()));
    let id = module
        .declare_function("kernel", Linkage::Export, &function.signature)
        .map_err(|e| cranelift(e.to_string()))?;
    let mut context = module.make_context();
    context.func = function;
    module.define_function(id, &mut context).map_err(|e| cranelift(format!("{e:?}")))?;
    module.finalize_definitions().map_err(|e| cranelift(e.to_string()))?;
    let address = module.get_finalized_function(id);
    // SAFETY: the function was declared with exactly this signature.
    let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
    let code = Arc::new(Code::Linked(Box::new(LinkedModule(Some(module)))));
    Ok(CompiledKernel { entry, clif, sizes: Vec::new(), code })
}

/// Copies relocation-free code (fresh from `generate` or read back from disk) into executable
/// memory; the function starts at the first byte.
pub(crate) fn map(kernel: &str, clif: String, code: &[u8]) -> Result<CompiledKernel, CodegenError> {
    let failed = |message: String| CodegenError::Memory { kernel: kernel.to_string(), bytes: code.len(), message };
    if code.is_empty() {
        return Err(failed("there is no code".to_string()));
    }
    let mut writable = memmap2::MmapMut::map_anon(code.len()).map_err(|e| failed(e.to_string()))?;
    writable.copy_from_slice(code);
    let memory = writable.make_exec().map_err(|e| failed(e.to_string()))?;
    // SAFETY: the range is the mapping just written; no thread runs it before this returns.
    unsafe { wasmtime_internal_jit_icache_coherence::clear_cache(memory.as_ptr().cast(), memory.len()) }
        .map_err(|e| failed(e.to_string()))?;
    wasmtime_internal_jit_icache_coherence::pipeline_flush_mt().map_err(|e| failed(e.to_string()))?;
    // SAFETY: the bytes are a function Cranelift compiled with the `KernelFn` signature for this
    // ISA (the disk cache only returns entries whose key names this ISA and whose checksum
    // holds), it starts at offset 0 and reaches nothing outside the mapping.
    let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(memory.as_ptr()) };
    super::perf_map::record(memory.as_ptr(), memory.len(), kernel);
    Ok(CompiledKernel { entry, clif, sizes: Vec::new(), code: Arc::new(Code::Mapped(memory)) })
}
