//! Shape and dtype inference: the type of each op's result given the types of its inputs.
//!
//! Shapes follow the generic rules of `shape`, dtypes the rules that `op` and `dtype` state;
//! this module only chooses which rule applies to which operand. A few ops cannot know
//! their result type from their inputs (see `Op::declares_result_type`): their node states
//! the type and [`check`] decides whether it is legal.

use crate::dtype::DType;
use crate::graph::ValueType;
use crate::op::{Op, ReduceOp, Window2d};
use crate::shape::{self, Dim, DimValue, Shape, add_dims, format_shape, mul_dims};
use smallvec::SmallVec;

/// Why an op cannot apply to its inputs; displays as `op: what is wrong`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct InferError {
    pub op: &'static str,
    pub message: String,
}

type Rule<T> = Result<T, String>;

/// The type of result 0 of `op` applied to inputs of these types.
pub fn infer(op: &Op, inputs: &[&ValueType]) -> Result<ValueType, InferError> {
    infer_result(op, inputs, 0)
}

/// The type of result number `result` of `op` (see `graph::Node::result`).
pub fn infer_result(op: &Op, inputs: &[&ValueType], result: usize) -> Result<ValueType, InferError> {
    let fail = |message: String| InferError { op: op.name(), message };
    let mut all = infer_results(op, inputs)?;
    if result >= all.len() {
        return Err(fail(format!("has {} result(s), there is no result {result}", all.len())));
    }
    Ok(all.swap_remove(result))
}

/// The types of every result of `op`.
pub fn infer_results(op: &Op, inputs: &[&ValueType]) -> Result<Vec<ValueType>, InferError> {
    let fail = |message: String| InferError { op: op.name(), message };
    check_arity(op, inputs)?;
    if op.declares_result_type() {
        return Err(fail("the result type does not follow from the inputs; the node must state it".into()));
    }
    results(op, inputs).map_err(fail)
}

/// Whether a node of `op` over these inputs may have type `declared` as its result number
/// `result`. This is what the verifier asks, and the only check for ops that declare
/// their result type.
pub fn check(op: &Op, inputs: &[&ValueType], result: usize, declared: &ValueType) -> Result<(), InferError> {
    let fail = |message: String| InferError { op: op.name(), message };
    check_arity(op, inputs)?;
    if op.declares_result_type() {
        if result != 0 {
            return Err(fail(format!("has 1 result, there is no result {result}")));
        }
        return check_declared(op, inputs, declared).map_err(fail);
    }
    let inferred = infer_result(op, inputs, result)?;
    if &inferred != declared {
        return Err(fail(format!("the result is {inferred}, not {declared}")));
    }
    Ok(())
}

fn check_arity(op: &Op, inputs: &[&ValueType]) -> Result<(), InferError> {
    let arity = op.arity();
    if arity.accepts(inputs.len()) {
        Ok(())
    } else {
        Err(InferError { op: op.name(), message: format!("expected {arity} inputs, got {}", inputs.len()) })
    }
}

fn one(ty: ValueType) -> Rule<Vec<ValueType>> {
    Ok(vec![ty])
}

fn typed(dtype: DType, shape: impl IntoIterator<Item = Dim>) -> ValueType {
    ValueType { dtype, shape: shape.into_iter().collect() }
}

fn results(op: &Op, inputs: &[&ValueType]) -> Rule<Vec<ValueType>> {
    let x = inputs[0];
    match op {
        Op::Constant(_) | Op::Iota { .. } | Op::RandUniform | Op::RandNormal | Op::MaskedSelect => {
            unreachable!("ops that declare their result type are checked by check_declared")
        }
        Op::Unary(u) => one(typed(u.result_dtype(x.dtype), x.shape.clone())),
        Op::Binary(b) => {
            let y = inputs[1];
            let shape = shape::broadcast(&x.shape, &y.shape).map_err(|e| e.0)?;
            let dtype = b.result_dtype(b.compute_dtype(DType::promote(x.dtype, y.dtype)));
            one(typed(dtype, shape))
        }
        Op::Where => {
            let (a, b) = (inputs[1], inputs[2]);
            if x.dtype != DType::Bool {
                return Err(format!("the condition must be bool, got {x}"));
            }
            let shape =
                shape::broadcast(&x.shape, &a.shape).and_then(|s| shape::broadcast(&s, &b.shape)).map_err(|e| e.0)?;
            one(typed(DType::promote(a.dtype, b.dtype), shape))
        }
        Op::Cast(dtype) => one(typed(*dtype, x.shape.clone())),
        Op::Reduce { op, axes, keepdim } => reduction(x, axes, *keepdim, op.result_dtype(x.dtype)),
        Op::Var { axes, keepdim, .. } | Op::LogSumExp { axes, keepdim } => {
            reduction(x, axes, *keepdim, x.dtype.to_float())
        }
        Op::CumSum { dim } => {
            check_axis(*dim, x)?;
            one(typed(ReduceOp::Sum.result_dtype(x.dtype), x.shape.clone()))
        }
        Op::Reshape { shape } => {
            shape::reshape_to(&x.shape, shape).map_err(|e| e.0)?;
            one(typed(x.dtype, shape.clone()))
        }
        Op::Permute { perm } => {
            let signed: Vec<isize> = perm.iter().map(|&p| p as isize).collect();
            let perm = shape::permutation(&signed, x.rank()).map_err(|e| e.0)?;
            one(typed(x.dtype, shape::permute(&x.shape, &perm)))
        }
        Op::Expand { shape } => {
            shape::expand(&x.shape, shape).map_err(|e| e.0)?;
            one(typed(x.dtype, shape.clone()))
        }
        Op::Slice { dim, start, len, step } => {
            check_axis(*dim, x)?;
            let mut shape = x.shape.clone();
            shape[*dim] =
                shape::slice_len(shape[*dim], *start, *len, *step).map_err(|e| format!("dim {dim}: {}", e.0))?;
            one(typed(x.dtype, shape))
        }
        Op::Pad { pads, mode, .. } => {
            if pads.len() != x.rank() {
                return Err(format!("{} has {} dims but {} (before, after) pairs were given", x, x.rank(), pads.len()));
            }
            let mut shape = Shape::new();
            for (i, (&d, &(before, after))) in x.shape.iter().zip(pads).enumerate() {
                let padded = add_dims(d, Dim::Const(before + after))
                    .ok_or_else(|| format!("cannot pad the symbolic dim {i} of {x}"))?;
                if *mode == crate::op::PadMode::Reflect && before.max(after) > 0 {
                    match d.known() {
                        Some(n) if before < n && after < n => {}
                        _ => return Err(format!("reflect padding of dim {i} of {x} must be smaller than the dim")),
                    }
                }
                if *mode == crate::op::PadMode::Replicate && before.max(after) > 0 && d.known() == Some(0) {
                    return Err(format!("cannot replicate the empty dim {i} of {x}"));
                }
                shape.push(padded);
            }
            one(typed(x.dtype, shape))
        }
        Op::Concat { dim } => {
            if let Some(other) = inputs.iter().find(|t| t.dtype != x.dtype) {
                return Err(format!("all inputs need one dtype, got {x} and {other}"));
            }
            let shapes: Vec<&[Dim]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
            one(typed(x.dtype, shape::concat(&shapes, *dim).map_err(|e| e.0)?))
        }
        Op::Flip { dims } => {
            check_axes(dims, x)?;
            one(x.clone())
        }
        Op::Roll { shifts, dims } => {
            let expected = if dims.is_empty() { 1 } else { dims.len() };
            if shifts.len() != expected {
                return Err(format!("{} shifts for {} dims", shifts.len(), dims.len()));
            }
            for &d in dims {
                check_axis(d, x)?;
            }
            one(x.clone())
        }
        Op::Matmul => {
            let y = inputs[1];
            let shape = shape::matmul(&x.shape, &y.shape).map_err(|e| {
                let prefix = format!("cannot multiply {} by {}: ", format_shape(&x.shape), format_shape(&y.shape));
                let reason = e.0.strip_prefix(&prefix).unwrap_or(&e.0);
                format!("cannot multiply {x} by {y}: {reason}")
            })?;
            one(typed(DType::promote(x.dtype, y.dtype), shape))
        }
        Op::IndexSelect { dim } => {
            let index = inputs[1];
            check_index(index)?;
            check_axis(*dim, x)?;
            if index.rank() != 1 {
                return Err(format!("the index must be 1-d, got {index}"));
            }
            let mut shape = x.shape.clone();
            shape[*dim] = index.shape[0];
            one(typed(x.dtype, shape))
        }
        Op::Gather { dim } => {
            let index = inputs[1];
            check_index(index)?;
            check_axis(*dim, x)?;
            check_same_rank(x, index)?;
            one(typed(x.dtype, index.shape.clone()))
        }
        Op::Scatter { dim } | Op::ScatterAdd { dim } => {
            let (index, source) = (inputs[1], inputs[2]);
            check_index(index)?;
            check_axis(*dim, x)?;
            check_same_rank(x, index)?;
            check_same_rank(x, source)?;
            check_same_dtype(x, source)?;
            one(x.clone())
        }
        Op::IndexAdd { dim } => {
            let (index, source) = (inputs[1], inputs[2]);
            check_index(index)?;
            check_axis(*dim, x)?;
            check_same_dtype(x, source)?;
            if index.rank() != 1 {
                return Err(format!("the index must be 1-d, got {index}"));
            }
            let mut expected = x.shape.clone();
            expected[*dim] = index.shape[0];
            if source.shape != expected {
                return Err(format!("the source must be {}, got {source}", format_shape(&expected)));
            }
            one(x.clone())
        }
        Op::OneHot { classes } => {
            check_index(x)?;
            let mut shape = x.shape.clone();
            shape.push(Dim::Const(*classes));
            one(typed(DType::I64, shape))
        }
        Op::Embedding => {
            let (weight, indices) = (x, inputs[1]);
            check_index(indices)?;
            if weight.rank() != 2 {
                return Err(format!("the weight must be 2-d [count, features], got {weight}"));
            }
            let mut shape = indices.shape.clone();
            shape.push(weight.shape[1]);
            one(typed(weight.dtype, shape))
        }
        Op::Softmax { dim } | Op::LogSoftmax { dim } => {
            check_axis(*dim, x)?;
            one(typed(x.dtype.to_float(), x.shape.clone()))
        }
        Op::LayerNorm { axes, .. } | Op::RmsNorm { axes, .. } => {
            if *axes > x.rank() {
                return Err(format!("cannot normalize over the last {axes} dims of {x}"));
            }
            let normalized = &x.shape[x.rank() - axes..];
            for affine in &inputs[1..] {
                if affine.shape.as_slice() != normalized {
                    return Err(format!(
                        "weight and bias must have the normalized shape {}, got {affine}",
                        format_shape(normalized)
                    ));
                }
            }
            one(typed(x.dtype.to_float(), x.shape.clone()))
        }
        Op::Conv { dims, stride, padding, dilation, groups } => conv(inputs, *dims, stride, padding, dilation, *groups),
        Op::Unfold { kernel, stride, padding, dilation } => unfold(x, kernel, stride, padding, dilation),
        Op::Fold { output, kernel, stride, padding, dilation } => fold(x, output, kernel, stride, padding, dilation),
        Op::MaxPool2d(window) => {
            let pooled = pool(x, window)?;
            Ok(vec![pooled.clone(), typed(DType::I64, pooled.shape)])
        }
        Op::AvgPool2d(window) => one(pool(x, window)?),
        Op::MaxPool2dBackward { input } => {
            let indices = inputs[1];
            if indices.dtype != DType::I64 || indices.shape != x.shape {
                return Err(format!("the indices must be i64 of the gradient's shape, got {x} and {indices}"));
            }
            one(with_plane(x, *input)?)
        }
        Op::AvgPool2dBackward { window, input } => {
            check_window(window)?;
            let expected: Vec<Dim> =
                (0..2).map(|i| window_len(Dim::Const(input[i]), window, i)).collect::<Rule<_>>()?;
            let rank = check_planes(x)?;
            if x.shape[rank - 2..] != expected[..] {
                return Err(format!(
                    "a window over {} gives {}, but the gradient is {x}",
                    format_shape(input),
                    format_shape(&expected)
                ));
            }
            one(with_plane(x, *input)?)
        }
        Op::AdaptiveAvgPool2d { output: plane }
        | Op::AdaptiveAvgPool2dBackward { input: plane }
        | Op::UpsampleNearest2d { output: plane }
        | Op::UpsampleNearest2dBackward { input: plane } => one(with_plane(x, *plane)?),
    }
}

/// Checks the type a node declares for an op whose inputs do not imply one.
fn check_declared(op: &Op, inputs: &[&ValueType], declared: &ValueType) -> Rule<()> {
    match op {
        Op::Constant(_) => Ok(()),
        Op::Iota { dim } => {
            if declared.dtype == DType::Bool {
                return Err(format!("cannot count in {declared}"));
            }
            check_axis(*dim, declared)
        }
        Op::RandUniform | Op::RandNormal => {
            for counter in inputs {
                if counter.dtype != DType::I64 || counter.rank() != 0 {
                    return Err(format!("the seed and offset must be i64[], got {counter}"));
                }
            }
            if !declared.dtype.is_float() {
                return Err(format!("random numbers are floats, not {declared}"));
            }
            Ok(())
        }
        Op::MaskedSelect => {
            let (x, mask) = (inputs[0], inputs[1]);
            if mask.dtype != DType::Bool {
                return Err(format!("the mask must be bool, got {mask}"));
            }
            shape::broadcast(&x.shape, &mask.shape).map_err(|e| e.0)?;
            if declared.dtype != x.dtype || declared.rank() != 1 {
                return Err(format!("the result is a 1-d {}, not {declared}", x.dtype));
            }
            Ok(())
        }
        _ => unreachable!("only ops that declare their result type come here"),
    }
}

fn reduction(x: &ValueType, axes: &[usize], keepdim: bool, dtype: DType) -> Rule<Vec<ValueType>> {
    check_axes(axes, x)?;
    one(typed(dtype, shape::reduce(&x.shape, axes, keepdim)))
}

/// A dim of `x`; a rank-0 value has dim 0 as PyTorch allows.
fn check_axis(dim: usize, x: &ValueType) -> Rule<()> {
    if dim < x.rank().max(1) { Ok(()) } else { Err(format!("dim {dim} is out of range for {x}")) }
}

fn check_axes(axes: &[usize], x: &ValueType) -> Rule<()> {
    for (i, &axis) in axes.iter().enumerate() {
        check_axis(axis, x)?;
        if axes[..i].contains(&axis) {
            return Err(format!("dim {axis} appears more than once in {axes:?}"));
        }
    }
    Ok(())
}

fn check_index(index: &ValueType) -> Rule<()> {
    if index.dtype.is_int() { Ok(()) } else { Err(format!("indices must be integers, got {index}")) }
}

fn check_same_rank(x: &ValueType, other: &ValueType) -> Rule<()> {
    if x.rank() == other.rank() { Ok(()) } else { Err(format!("{other} must have the rank of {x}")) }
}

fn check_same_dtype(x: &ValueType, other: &ValueType) -> Rule<()> {
    if x.dtype == other.dtype { Ok(()) } else { Err(format!("{other} must have the dtype of {x}")) }
}

fn known(d: Dim, what: &str) -> Rule<usize> {
    d.known().ok_or_else(|| format!("{what} must be a known size, got {d}"))
}

fn check_lengths(dims: usize, lists: &[(&str, &[usize])]) -> Rule<()> {
    for (name, list) in lists {
        if list.len() != dims {
            return Err(format!("{name} has {} entries, expected one per spatial dim ({dims})", list.len()));
        }
    }
    Ok(())
}

fn conv(
    inputs: &[&ValueType],
    dims: usize,
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
    groups: usize,
) -> Rule<Vec<ValueType>> {
    let (x, weight) = (inputs[0], inputs[1]);
    check_lengths(dims, &[("stride", stride), ("padding", padding), ("dilation", dilation)])?;
    if dims == 0 || groups == 0 {
        return Err("needs at least one spatial dim and one group".into());
    }
    if x.rank() != dims + 2 || weight.rank() != dims + 2 {
        return Err(format!(
            "expects [N, C, ...] input and [O, C/groups, ...] weight of rank {}, got {x} and {weight}",
            dims + 2
        ));
    }
    let (channels, out_channels) = (x.shape[1], weight.shape[0]);
    let per_group = mul_dims(weight.shape[1], Dim::Const(groups));
    if per_group != Some(channels) {
        return Err(format!(
            "{x} has {channels} channels but {weight} with {groups} group(s) expects {}",
            weight.shape[1]
        ));
    }
    if out_channels.known().is_some_and(|o| o % groups != 0) {
        return Err(format!("{out_channels} output channels do not split into {groups} groups"));
    }
    if let Some(bias) = inputs.get(2)
        && bias.shape.as_slice() != [out_channels]
    {
        return Err(format!("the bias must be [{out_channels}], got {bias}"));
    }
    let mut shape: Shape = [x.shape[0], out_channels].into_iter().collect();
    for i in 0..dims {
        let kernel = known(weight.shape[2 + i], "the kernel")?;
        let len = shape::window_out_len(x.shape[2 + i], kernel, stride[i], padding[i], dilation[i])
            .map_err(|e| format!("spatial dim {i}: {}", e.0))?;
        shape.push(len);
    }
    one(typed(DType::promote(x.dtype, weight.dtype), shape))
}

/// The number of sliding-window positions over `spatial` dims.
fn window_positions(
    spatial: &[Dim],
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
) -> Rule<Dim> {
    let mut positions = Dim::Const(1);
    for (i, &size) in spatial.iter().enumerate() {
        let len = shape::window_out_len(size, kernel[i], stride[i], padding[i], dilation[i])
            .map_err(|e| format!("spatial dim {i}: {}", e.0))?;
        positions = mul_dims(positions, len).ok_or("the number of windows over symbolic sizes is unknown")?;
    }
    Ok(positions)
}

fn unfold(
    x: &ValueType,
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
) -> Rule<Vec<ValueType>> {
    let dims = kernel.len();
    check_lengths(dims, &[("stride", stride), ("padding", padding), ("dilation", dilation)])?;
    if x.rank() != dims + 2 {
        return Err(format!("expects [N, C, ...] input with {dims} spatial dims, got {x}"));
    }
    let window: usize = kernel.iter().product();
    let columns =
        mul_dims(x.shape[1], Dim::Const(window)).ok_or_else(|| format!("the channel count of {x} must be known"))?;
    let positions = window_positions(&x.shape[2..], kernel, stride, padding, dilation)?;
    one(typed(x.dtype, [x.shape[0], columns, positions]))
}

fn fold(
    x: &ValueType,
    output: &[usize],
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
) -> Rule<Vec<ValueType>> {
    let dims = kernel.len();
    check_lengths(dims, &[("output", output), ("stride", stride), ("padding", padding), ("dilation", dilation)])?;
    if x.rank() != 3 {
        return Err(format!("expects [N, C * kernel size, windows] input, got {x}"));
    }
    let window: usize = kernel.iter().product();
    let channels = match x.shape[1].known() {
        Some(columns) if window > 0 && columns % window == 0 => Dim::Const(columns / window),
        None if window == 1 => x.shape[1],
        _ => return Err(format!("dim 1 of {x} must be a multiple of the kernel size {window}")),
    };
    let spatial: Vec<Dim> = output.iter().map(|&d| Dim::Const(d)).collect();
    let positions = window_positions(&spatial, kernel, stride, padding, dilation)?;
    if x.shape[2] != positions {
        return Err(format!(
            "an output of {} has {positions} windows, but {x} has {}",
            format_shape(output),
            x.shape[2]
        ));
    }
    let mut shape: Shape = [x.shape[0], channels].into_iter().collect();
    shape.extend(spatial);
    one(typed(x.dtype, shape))
}

fn check_window(window: &Window2d) -> Rule<()> {
    if window.stride.contains(&0) || window.dilation.contains(&0) || window.kernel.contains(&0) {
        return Err(format!("kernel, stride and dilation must be positive, got {window:?}"));
    }
    Ok(())
}

fn window_len(size: Dim, window: &Window2d, i: usize) -> Rule<Dim> {
    shape::window_out_len(size, window.kernel[i], window.stride[i], window.padding[i], window.dilation[i])
        .map_err(|e| format!("spatial dim {i}: {}", e.0))
}

/// 2-d ops work on `[C, H, W]` or `[N, C, H, W]`; returns the rank.
fn check_planes(x: &ValueType) -> Rule<usize> {
    match x.rank() {
        3 | 4 => Ok(x.rank()),
        _ => Err(format!("expects [C, H, W] or [N, C, H, W], got {x}")),
    }
}

fn pool(x: &ValueType, window: &Window2d) -> Rule<ValueType> {
    check_window(window)?;
    let rank = check_planes(x)?;
    let mut shape = x.shape.clone();
    for i in 0..2 {
        shape[rank - 2 + i] = window_len(x.shape[rank - 2 + i], window, i)?;
    }
    Ok(typed(x.dtype, shape))
}

/// `x` with its last two dims replaced by `plane`.
fn with_plane(x: &ValueType, plane: [usize; 2]) -> Rule<ValueType> {
    let rank = check_planes(x)?;
    let mut shape: SmallVec<[Dim; 6]> = x.shape.clone();
    shape[rank - 2] = Dim::Const(plane[0]);
    shape[rank - 1] = Dim::Const(plane[1]);
    Ok(typed(x.dtype, shape))
}

#[cfg(test)]
#[path = "infer_tests.rs"]
mod tests;
