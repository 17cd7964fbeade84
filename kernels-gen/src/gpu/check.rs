//! What the GPU code covers, and names for generated functions.

use crate::cpu::{supports_binary, supports_unary};
use ignis_ir::DType;
use ignis_ir::kernel::{Access, Expr, Kernel};

#[derive(Debug, thiserror::Error)]
pub enum GpuCodegenError {
    #[error("kernel {kernel}: {message}")]
    Unsupported { kernel: String, message: String },
    /// MLIR rejected the module or a pass failed; `diagnostics` are its messages.
    #[error("kernel {kernel}: MLIR {stage} failed: {diagnostics}")]
    Mlir { kernel: String, stage: &'static str, diagnostics: String },
    #[error("{0}")]
    Tool(String),
}

/// Fails on what the generated code does not cover.
pub(crate) fn supported(kernel: &Kernel) -> Result<(), GpuCodegenError> {
    let unsupported = |message: String| GpuCodegenError::Unsupported { kernel: kernel.name.clone(), message };
    for (i, buffer) in kernel.buffers.iter().enumerate() {
        let ok = match buffer.dtype {
            DType::F32 | DType::F16 | DType::BF16 | DType::Bool => true,
            DType::F64 => buffer.access == Access::Read,
            _ => false,
        };
        if !ok {
            return Err(unsupported(format!(
                "buffer b{i} is {} {:?}; kernels read and write f32, bf16, f16 and bool, and read f64",
                buffer.dtype, buffer.access
            )));
        }
    }
    for (i, e) in kernel.exprs.iter().enumerate() {
        let ok = match e {
            Expr::Unary(op, _) => supports_unary(op),
            Expr::Binary(op, _, _) => supports_binary(op),
            _ => true,
        };
        if !ok {
            return Err(unsupported(format!("e{i} = {e:?} has no generated code")));
        }
    }
    Ok(())
}

/// An MLIR symbol for a kernel name: letters, digits and `_`, not starting with a digit.
pub(crate) fn function_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "kernel_");
    }
    out
}
