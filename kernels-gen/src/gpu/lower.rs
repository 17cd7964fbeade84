//! The generated MLIR lowered by LLVM: to the NVVM or ROCDL dialect (the MLIR after
//! lowering, which the dumps show), then to PTX or AMDGPU assembly.
//!
//! One MLIR context per thread, made on first use, with every dialect, pass and LLVM
//! translation registered; MLIR's diagnostics are collected into the error.

use super::{GpuCodegenError, GpuSource, Target};
use melior::Context;
use melior::dialect::DialectRegistry;
use melior::ir::attribute::ArrayAttribute;
use melior::ir::operation::OperationLike;
use melior::ir::{AttributeLike, BlockLike, Module};
use melior::pass::PassManager;
use melior::utility::{
    parse_pass_pipeline, register_all_dialects, register_all_llvm_translations, register_all_passes,
};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Once;

/// A kernel lowered for its target.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The module after conversion to the LLVM and NVVM (or ROCDL) dialects.
    pub lowered_mlir: String,
    /// PTX text, or AMDGPU assembly.
    pub assembly: String,
}

thread_local! {
    static CONTEXT: Context = new_context();
}

fn new_context() -> Context {
    static PASSES: Once = Once::new();
    PASSES.call_once(register_all_passes);
    let registry = DialectRegistry::new();
    register_all_dialects(&registry);
    // Kernels are lowered one at a time on the caller's thread; MLIR's own pool would only
    // compete with the runtime's.
    let context = Context::new_with_registry(&registry, false);
    context.load_all_available_dialects();
    register_all_llvm_translations(&context);
    context
}

/// The passes from the generated module to the NVVM or ROCDL dialect. Memrefs have static
/// shapes, so kernel parameters become bare pointers.
pub fn conversion_pipeline(target: &Target) -> String {
    let chip = target.chip();
    let (attach, convert) = match target {
        Target::Cuda { .. } => (
            format!("nvvm-attach-target{{chip={chip} features=+ptx80 O=3}}"),
            "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=true}".to_string(),
        ),
        Target::Rocm { .. } => (
            format!("rocdl-attach-target{{chip={chip} O=3}}"),
            format!("convert-gpu-to-rocdl{{chipset={chip} use-bare-ptr-memref-call-conv=true}}"),
        ),
    };
    format!(
        "builtin.module({attach}, gpu.module(convert-scf-to-cf, {convert}, canonicalize, cse, reconcile-unrealized-casts))"
    )
}

const SERIALIZE: &str = "builtin.module(gpu-module-to-binary{format=isa})";

/// Lowers `source` to its target's assembly.
pub fn lower(source: &GpuSource) -> Result<Lowered, GpuCodegenError> {
    with_context(&source.name, |context, failure| lower_in(context, source, failure))
}

/// Runs `work` with this thread's MLIR context and a maker of errors that carry the
/// diagnostics MLIR reported meanwhile.
pub(crate) fn with_context<T>(
    kernel: &str,
    work: impl FnOnce(&Context, &dyn Fn(&'static str) -> GpuCodegenError) -> Result<T, GpuCodegenError>,
) -> Result<T, GpuCodegenError> {
    CONTEXT.with(|context| {
        let messages = Rc::new(RefCell::new(Vec::<String>::new()));
        let sink = Rc::clone(&messages);
        let handler = context.attach_diagnostic_handler(move |diagnostic| {
            sink.borrow_mut().push(diagnostic.to_string());
            true
        });
        let failure = |stage: &'static str| GpuCodegenError::Mlir {
            kernel: kernel.to_string(),
            stage,
            diagnostics: messages.borrow_mut().drain(..).collect::<Vec<_>>().join("; "),
        };
        let result = work(context, &failure);
        context.detach_diagnostic_handler(handler);
        result
    })
}

fn lower_in(
    context: &Context,
    source: &GpuSource,
    failure: &dyn Fn(&'static str) -> GpuCodegenError,
) -> Result<Lowered, GpuCodegenError> {
    let mut module = Module::parse(context, &source.mlir).ok_or_else(|| failure("parsing"))?;
    run(context, &mut module, &conversion_pipeline(&source.target)).map_err(|()| failure("lowering"))?;
    let lowered_mlir = module.as_operation().to_string();
    run(context, &mut module, SERIALIZE).map_err(|()| failure("translation to assembly"))?;
    let assembly = binary_object(&module).ok_or_else(|| failure("reading the assembly"))?;
    Ok(Lowered { lowered_mlir, assembly })
}

pub(crate) fn run(context: &Context, module: &mut Module, pipeline: &str) -> Result<(), ()> {
    let manager = PassManager::new(context);
    parse_pass_pipeline(manager.as_operation_pass_manager(), pipeline).map_err(|_| ())?;
    manager.run(module).map_err(|_| ())
}

/// The text of the first object of the module's `gpu.binary`.
fn binary_object(module: &Module) -> Option<String> {
    let mut op = module.body().first_operation();
    while let Some(o) = op {
        if o.name().as_string_ref().as_str().ok()? == "gpu.binary" {
            let objects = ArrayAttribute::try_from(o.attribute("objects").ok()?).ok()?;
            let object = objects.element(0).ok()?;
            // SAFETY: `object` is a `#gpu.object` attribute of a live module; the returned
            // string points into it and is copied before the module goes away.
            let bytes = unsafe {
                let text = mlir_sys::mlirGPUObjectAttrGetObject(object.to_raw());
                std::slice::from_raw_parts(text.data as *const u8, text.length).to_vec()
            };
            return String::from_utf8(bytes).ok();
        }
        op = o.next_in_block();
    }
    None
}
