//! The one path from a tensor op to its computation: recorded into the graph when a
//! compiled function is being traced, else run through the eager kernel of the same graph
//! op (`ignis_runtime::interpret::eval`, which the interpreter backend runs too), or on a
//! GPU when an input is there (`gpu.rs`).

use crate::compile::trace;
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, Scalar, ValueType};
use ignis_runtime::View;
use ignis_runtime::interpret::eval;

/// `op` on `inputs`, whose result has `dtype` and `shape` (the caller's shape rules said so).
/// No autograd: the caller records its rule on the result.
pub(crate) fn run_op(op: Op, inputs: &[&Tensor], dtype: DType, shape: &[usize]) -> Tensor {
    if let Some(traced) = trace::record_op(&op, inputs, None) {
        debug_assert_eq!(traced.shape(), shape, "{}: the tracer and the eager shape rules disagree", op.name());
        return traced;
    }
    let views: Vec<View> = inputs.iter().map(|t| t.kernel_view()).collect();
    #[cfg(feature = "gpu")]
    {
        let device = super::gpu::device_of(&op, &views);
        if device != ignis_runtime::Device::Cpu {
            let (storage, layout) = super::gpu::run(&op, &views, dtype, shape, device);
            return Tensor::from_parts(storage, layout);
        }
    }
    let (storage, layout) = eval(&op, 0, &views, dtype, shape);
    Tensor::from_parts(storage, layout)
}

/// A traced constant of this type, or `None` outside a trace.
pub(crate) fn traced_constant(value: Scalar, dtype: DType, shape: &[usize]) -> Option<Tensor> {
    trace::record_op(&Op::Constant(value), &[], Some(ValueType::of(dtype, shape)))
}
