//! One graph op on concrete inputs, through the eager kernels.
//!
//! This is the whole instruction set of the graph interpreter: eager mode runs every
//! tensor op through [`eval`], and the interpreter backend runs a captured graph node by
//! node through it, so the two cannot disagree. Movement ops that a layout can express
//! (reshape of compatible strides, permute, expand, slice) return views that share the
//! input's storage; every other op returns fresh contiguous storage.

use crate::cpu;
use crate::layout::Layout;
use crate::random;
use crate::storage::{Storage, View};
use ignis_ir::{DType, Dim, Op, ValueType};

/// What an op produced: storage and the layout to see it through.
pub type Output = (Storage, Layout);

/// The result of a movement op as a view of its input's storage (any device), or `None`
/// when the op is not a view or its layout cannot express it (a reshape of strides that
/// do not merge: that needs a copy).
pub fn view_op(op: &Op, x: View, shape: &[usize]) -> Option<Output> {
    let layout = match op {
        Op::Reshape { .. } => x.layout.reshape(shape)?,
        Op::Permute { perm } => x.layout.permute(perm),
        Op::Expand { .. } => x.layout.expand(shape).unwrap_or_else(|e| panic!("expand: {e}")),
        Op::Slice { dim, start, step, .. } => x.layout.slice(*dim, *start, shape[*dim], *step),
        _ => return None,
    };
    Some((x.storage.clone(), layout))
}

/// Runs result number `result` of `op` on `inputs`; `dtype` and `shape` are the result's
/// type (sources such as constants take theirs from it; other ops only their layout).
///
/// Inputs must already have the dtypes the op computes in: the tracer and the eager ops
/// insert the casts that promotion needs, so the graph shows them.
pub fn eval(op: &Op, result: usize, inputs: &[View], dtype: DType, shape: &[usize]) -> Output {
    let fresh = |storage: Storage| (storage, Layout::contiguous(shape));
    let x = || inputs[0];
    match op {
        Op::Constant(value) => {
            let storage = Storage::uninit(dtype, shape.iter().product());
            let layout = Layout::contiguous(shape);
            cpu::fill_view(View::new(&storage, &layout), *value);
            (storage, layout)
        }
        Op::Iota { dim } => {
            let layout = Layout::contiguous(shape);
            let inner: usize = shape[dim + 1..].iter().product();
            let size = shape[*dim].max(1);
            let values: Vec<i64> = (0..layout.numel()).map(|i| ((i / inner.max(1)) % size) as i64).collect();
            fresh(cpu::cast(View::new(&Storage::from_vec(values), &layout), dtype))
        }
        Op::RandUniform | Op::RandNormal => {
            let seed = scalar_i64(inputs[0]) as u64;
            let offset = scalar_i64(inputs[1]) as u64;
            let mut values = vec![0.0f64; shape.iter().product()];
            if matches!(op, Op::RandUniform) {
                random::fill_uniform(&mut values, seed, offset);
                truncate_to_significand(&mut values, dtype);
            } else {
                random::fill_normal(&mut values, seed, offset);
            }
            let layout = Layout::contiguous(shape);
            fresh(cpu::cast(View::new(&Storage::from_vec(values), &layout), dtype))
        }
        Op::Unary(u) => fresh(cpu::unary(*u, x())),
        Op::Binary(b) => {
            let compute = b.compute_dtype(DType::promote(inputs[0].dtype(), inputs[1].dtype()));
            let (a, a_holder) = cast_if_needed(inputs[0], compute);
            let (c, c_holder) = cast_if_needed(inputs[1], compute);
            let a = a_holder.as_ref().map_or(a, |(s, l)| View::new(s, l));
            let c = c_holder.as_ref().map_or(c, |(s, l)| View::new(s, l));
            fresh(cpu::binary(*b, a, c, shape))
        }
        Op::Where => {
            let (a, a_holder) = cast_if_needed(inputs[1], dtype);
            let (b, b_holder) = cast_if_needed(inputs[2], dtype);
            let a = a_holder.as_ref().map_or(a, |(s, l)| View::new(s, l));
            let b = b_holder.as_ref().map_or(b, |(s, l)| View::new(s, l));
            fresh(cpu::where_select(inputs[0], a, b, shape))
        }
        // A cast to the same dtype is a copy: the tracer spells `clone()` this way.
        Op::Cast(dtype) => fresh(cpu::cast(x(), *dtype)),
        Op::Reduce { op, axes, keepdim } => {
            if axes.is_empty() {
                fresh(cpu::cast(x(), op.result_dtype(x().dtype())))
            } else {
                fresh(cpu::reduce(*op, x(), axes, *keepdim))
            }
        }
        Op::Var { axes, correction, keepdim } => fresh(cpu::var(x(), axes, *correction, *keepdim)),
        Op::LogSumExp { axes, keepdim } => fresh(cpu::logsumexp(x(), axes, *keepdim)),
        Op::CumSum { dim } => fresh(cpu::cumsum(x(), *dim)),
        Op::Reshape { .. } | Op::Permute { .. } | Op::Expand { .. } | Op::Slice { .. } => {
            view_op(op, x(), shape).unwrap_or_else(|| (cpu::contiguous(x()), Layout::contiguous(shape)))
        }
        Op::Pad { pads, mode, value } => fresh(cpu::pad(x(), pads, *mode, *value)),
        Op::Concat { dim } => fresh(cpu::cat(inputs, *dim)),
        Op::Flip { dims } => fresh(cpu::flip(x(), dims)),
        Op::Roll { shifts, dims } => fresh(cpu::roll(x(), shifts, dims)),
        Op::Matmul => {
            let (storage, dims) = cpu::matmul(inputs[0], inputs[1]);
            (storage, Layout::contiguous(&dims))
        }
        Op::IndexSelect { dim } => fresh(cpu::index_select(x(), *dim, inputs[1])),
        Op::Gather { dim } => fresh(cpu::gather(x(), *dim, inputs[1])),
        Op::Scatter { dim } => fresh(cpu::scatter(x(), *dim, inputs[1], inputs[2])),
        Op::ScatterAdd { dim } => fresh(cpu::scatter_add(x(), *dim, inputs[1], inputs[2])),
        Op::IndexAdd { dim } => fresh(cpu::index_add(x(), *dim, inputs[1], inputs[2])),
        Op::MaskedSelect => {
            let (storage, n) = cpu::masked_select(x(), inputs[1]);
            (storage, Layout::contiguous(&[n]))
        }
        Op::OneHot { classes } => fresh(cpu::one_hot(x(), *classes)),
        Op::Embedding => {
            let index = inputs[1];
            let flat_layout = Layout::contiguous(&[index.numel()]);
            let index_storage = cpu::contiguous(index);
            fresh(cpu::index_select(x(), 0, View::new(&index_storage, &flat_layout)))
        }
        Op::Softmax { dim } => fresh(cpu::softmax(x(), *dim)),
        Op::LogSoftmax { dim } => fresh(cpu::log_softmax(x(), *dim)),
        Op::LayerNorm { axes, eps } => {
            let (out, _, _) = cpu::layer_norm(x(), *axes, inputs.get(1).copied(), inputs.get(2).copied(), eps.to_f64());
            fresh(out)
        }
        Op::RmsNorm { axes, eps } => {
            let (out, _) = cpu::rms_norm(x(), *axes, inputs.get(1).copied(), eps.to_f64());
            fresh(out)
        }
        Op::Unfold { kernel, stride, padding, dilation } => fresh(cpu::unfold(x(), kernel, stride, padding, dilation)),
        Op::Fold { output, kernel, stride, padding, dilation } => {
            fresh(cpu::fold(x(), output, kernel, stride, padding, dilation))
        }
        Op::MaxPool2d(window) => {
            let (values, indices) = cpu::max_pool2d(x(), window);
            fresh(if result == 0 { values } else { indices })
        }
        Op::MaxPool2dBackward { input } => fresh(cpu::max_pool2d_backward(x(), inputs[1], *input)),
        Op::AvgPool2d(window) => fresh(cpu::avg_pool2d(x(), window, true)),
        Op::AvgPool2dBackward { window, input } => fresh(cpu::avg_pool2d_backward(x(), window, *input, true)),
        Op::AdaptiveAvgPool2d { output } => fresh(cpu::adaptive_avg_pool2d(x(), *output)),
        Op::AdaptiveAvgPool2dBackward { input } => fresh(cpu::adaptive_avg_pool2d_backward(x(), *input)),
        Op::UpsampleNearest2d { output } => fresh(cpu::upsample_nearest2d(x(), *output)),
        Op::UpsampleNearest2dBackward { input } => fresh(cpu::upsample_nearest2d_backward(x(), *input)),
        Op::Conv { .. } => panic!("conv: the interpreter runs convolutions as unfold and matmul nodes"),
    }
}

/// The dims of a type whose shape is fully known.
pub fn concrete_shape(ty: &ValueType) -> Vec<usize> {
    ty.shape
        .iter()
        .map(|d| match d {
            Dim::Const(n) => *n,
            Dim::Sym(s) => panic!("interpret: the shape {ty} still has the symbol {s}; bind sizes first"),
        })
        .collect()
}

fn scalar_i64(v: View) -> i64 {
    let c = cpu::cast(v, DType::I64);
    c.to_vec::<i64>()[0]
}

fn cast_if_needed(v: View, dtype: DType) -> (View, Option<(Storage, Layout)>) {
    if v.dtype() == dtype {
        (v, None)
    } else {
        let storage = cpu::cast(v, dtype);
        (v, Some((storage, Layout::contiguous(v.shape()))))
    }
}

/// Keeps as many random bits as the dtype's significand holds, so rounding can never give 1.
pub fn truncate_to_significand(values: &mut [f64], dtype: DType) {
    let digits = match dtype {
        DType::F16 => 11,
        DType::BF16 => 8,
        DType::F32 => 24,
        _ => return,
    };
    let scale = (1u64 << digits) as f64;
    values.iter_mut().for_each(|v| *v = (*v * scale).floor() / scale);
}
