//! The rounding-noise model: how far a correct backend may move each result.
//!
//! A native backend rounds differently from eager code (fma, polynomial `exp` and `tanh`,
//! another summation order), and a program can amplify an ulp into much more (a variance
//! of nearly equal values, `pow`, a normalization of a nearly constant row). Rather than
//! bound that analytically, the runner re-runs the program eagerly with every rounding
//! step's result moved by a couple of ulps (relative, plus absolute ulps of the magnitudes
//! the step combined), and takes the spread of those runs as the noise a correct backend
//! may show at each output element.
//!
//! The moves depend only on the value and the run's salt, never on the position, so equal
//! values stay equal (ties of max and min, broadcast duplicates keep their structure, as
//! a deterministic kernel keeps them), and exact values are never moved.

use super::program::{Binary, Op, Reduction, ScalarOp, Step, Unary};
use super::rng::mix;
use ignis::{DType, Tensor, no_grad};

/// The spacing of floats just above 1 (machine epsilon) for a float dtype.
pub fn unit_roundoff(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON,
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        _ => 2f64.powi(-23),
    }
}

/// The largest finite magnitude in `t` (0 for an empty or non-float tensor).
pub fn max_abs(t: &Tensor) -> f64 {
    if t.numel() == 0 || !t.dtype().is_float() {
        return 0.0;
    }
    no_grad(|| t.to_vec::<f64>()).into_iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

/// `|t|` in f64 with NaN and infinities as 0: for magnitudes of sums and products.
fn finite_abs(t: &Tensor) -> Tensor {
    t.to_dtype(DType::F64).nan_to_num(0.0, Some(0.0), Some(0.0)).abs()
}

fn signed(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

/// The magnitude behind a step's absolute rounding error: its result's, or more where the
/// step cancels (a sum of terms of both signs, a difference of close values, a layer norm
/// dividing by a small deviation).
pub fn step_magnitude(op: &Op, args: &[&Tensor], result: &Tensor) -> f64 {
    no_grad(|| {
        let out = max_abs(result);
        let arg = |i: usize| max_abs(args[i]);
        match op {
            // Range reduction loses ulps of the argument.
            Op::Unary(Unary::Sin | Unary::Cos) => out.max(arg(0)),
            // `x * (1 + erf(..))` and the like cancel for negative `x`: ulps of `x`.
            Op::Unary(Unary::Gelu | Unary::GeluTanh | Unary::Silu | Unary::Mish | Unary::Softplus | Unary::Elu(_)) => {
                out.max(arg(0))
            }
            // Computed near 1 (`log` of numbers near 1, `1 - 2 / (exp(2x) + 1)`): ulps of 1.
            Op::Unary(Unary::LogAbs | Unary::Log1pAbs | Unary::Tanh | Unary::Sigmoid | Unary::Erf) => out.max(1.0),
            Op::Binary(Binary::Add | Binary::Sub) => out.max(arg(0)).max(arg(1)),
            Op::Scalar(ScalarOp::Add | ScalarOp::Sub | ScalarOp::Rsub, c) => out.max(arg(0)).max(c.abs()),
            Op::Reduce { kind, axes, .. } => {
                let x = args[0];
                match kind {
                    Reduction::Sum => max_abs(&finite_abs(x).sum_dims(&signed(axes), false)).max(out),
                    Reduction::Mean => max_abs(&finite_abs(x).mean_dims(&signed(axes), false)).max(out),
                    Reduction::Var { .. } => arg(0).powi(2).max(out),
                    Reduction::LogSumExp => out.max(arg(0)),
                    _ => out,
                }
            }
            Op::Softmax { log: false, .. } => out * arg(0).max(1.0),
            Op::Softmax { log: true, .. } => out.max(arg(0)),
            Op::LayerNorm { axes, weight, bias } => {
                let scale = if *weight { arg(1) } else { 1.0 };
                let shift = if *bias { arg(args.len() - 1) } else { 0.0 };
                out.max(arg(0) * largest_rstd(args[0], *axes) * scale + shift)
            }
            Op::Matmul => max_abs(&finite_abs(args[0]).matmul(&finite_abs(args[1]))).max(out),
            _ => out,
        }
    })
}

/// `result` as another correct backend might have computed it: each element moved by two
/// ulps of itself and two ulps of the step's magnitude, each way by a sign drawn from a hash
/// of the value and `salt`. Steps that cannot round, and non-float results, are kept.
///
/// The backward pass is moved too: through `mul` every gradient flowing into the step is
/// moved by the same relative amount, and for steps whose backward cancels (the derivative
/// `1 - y^2` of a saturated `tanh`, a layer norm of a nearly constant row) a probe term,
/// zero in value, adds ulps of the derivative's own size to the gradient.
///
/// `exact_args` says whether every argument is exact: then one IEEE operation (`a + b`,
/// `sqrt`, a division) has one right answer, and is not moved.
pub fn perturb(
    step_index: usize,
    step: &Step,
    args: &[&Tensor],
    result: Tensor,
    salt: u64,
    exact_args: bool,
) -> Tensor {
    let dtype = result.dtype();
    if !step.op.rounds()
        || !dtype.is_float()
        || result.numel() == 0
        || (exact_args && correctly_rounded(&step.op))
        || reduces_one_value(&step.op, args[0])
    {
        return result;
    }
    let magnitude = step_magnitude(&step.op, args, &result);
    let ulp = unit_roundoff(dtype);
    let run = mix(salt ^ ((step_index as u64) << 40));
    let values = no_grad(|| result.to_vec::<f64>());
    // A unary op that hands its argument back (`elu` of a positive number, `tanh` of a tiny
    // one) or maps 0 to an exact constant (`tanh(0)`, `exp(0)`) has one right answer there.
    let settled: Vec<bool> = match &step.op {
        Op::Unary(u) if args[0].shape() == result.shape() => {
            let exact_at_zero = exact_at_zero(*u);
            let arguments = no_grad(|| args[0].to_vec::<f64>());
            arguments.iter().zip(&values).map(|(x, v)| x == v || (*x == 0.0 && exact_at_zero)).collect()
        }
        _ => vec![false; values.len()],
    };
    let (factors, shifts): (Vec<f64>, Vec<f64>) = values
        .iter()
        .zip(settled)
        .map(|(v, settled)| {
            if settled {
                return (1.0, 0.0);
            }
            let h = mix(v.to_bits() ^ run);
            (1.0 + sign(h) * 2.0 * ulp, sign(h >> 1) * 2.0 * ulp * magnitude)
        })
        .unzip();
    let shape = result.shape().to_vec();
    let factor = Tensor::from_vec(factors, shape.clone()).to_dtype(dtype);
    let shift = Tensor::from_vec(shifts, shape).to_dtype(dtype);
    let moved = result.mul(&factor).add(&shift);
    match derivative_error(&step.op, args, &result) {
        Some(error) if args[0].requires_grad() && args[0].shape() == moved.shape() => {
            moved.add(&gradient_probe(args[0], error, run ^ 0xD5A5_1C1A))
        }
        _ => moved,
    }
}

/// Ops made of IEEE operations that round once each (or exactly), so that exact arguments
/// leave a backend no choice: no reduction, no transcendental function, no fusable chain.
fn correctly_rounded(op: &Op) -> bool {
    match op {
        Op::Unary(u) => matches!(u, Unary::Square | Unary::SqrtAbs | Unary::Recip),
        Op::Binary(b) => matches!(b, Binary::Add | Binary::Sub | Binary::Mul | Binary::DivSafe),
        Op::Scalar(..) => true,
        _ => false,
    }
}

/// A reduction over a single value hands it back (a sum of one term, a log-sum-exp of
/// one value): nothing to round.
fn reduces_one_value(op: &Op, x: &Tensor) -> bool {
    match op {
        Op::Reduce { axes, .. } => axes.iter().map(|&a| x.shape()[a]).product::<usize>() == 1,
        _ => false,
    }
}

/// Unary ops whose value at 0 is exact (0, 1 or 1/2) in any reasonable implementation.
fn exact_at_zero(op: Unary) -> bool {
    matches!(
        op,
        Unary::Tanh
            | Unary::Sigmoid
            | Unary::Erf
            | Unary::Sin
            | Unary::Cos
            | Unary::Exp
            | Unary::Expm1
            | Unary::Gelu
            | Unary::GeluTanh
            | Unary::Silu
            | Unary::Mish
            | Unary::Elu(_)
            | Unary::LeakyRelu(_)
            | Unary::Log1pAbs
    )
}

/// +1 or -1 from the lowest bit of a hash.
fn sign(hash: u64) -> f64 {
    if hash & 1 == 0 { 1.0 } else { -1.0 }
}

/// How the absolute error of the derivative a step's backward computes grows with its
/// argument, for steps whose backward can cancel; `None` for the rest, whose backward
/// errors are relative and moved enough by the factor on the result.
enum DerivativeError {
    /// Ulps of this size.
    Constant(f64),
    /// Ulps of `max(1, |x|)` for each element `x`.
    OfArgument,
    /// Ulps of these sizes, one per element.
    PerElement(Vec<f64>),
}

fn derivative_error(op: &Op, args: &[&Tensor], result: &Tensor) -> Option<DerivativeError> {
    match op {
        // `y * (g - sum(g * y))`: the difference cancels when `g` is nearly `sum(g * y)`,
        // leaving ulps of `g` times `y`.
        Op::Softmax { log: false, .. } => Some(DerivativeError::PerElement(no_grad(|| result.to_vec::<f64>()))),
        // `g - exp(y) * sum(g)`: ulps of the sum, up to `n` times `g`, times `exp(y)`.
        Op::Softmax { dim, log: true } => {
            let n = result.shape()[*dim] as f64;
            let sizes = no_grad(|| result.to_vec::<f64>()).into_iter().map(|y| (y.exp() * n).max(1.0)).collect();
            Some(DerivativeError::PerElement(sizes))
        }
        Op::Unary(Unary::Tanh | Unary::Sigmoid | Unary::Erf | Unary::Sin | Unary::Cos) => {
            Some(DerivativeError::Constant(1.0))
        }
        Op::Unary(Unary::Gelu | Unary::GeluTanh | Unary::Silu | Unary::Mish | Unary::Softplus | Unary::Elu(_)) => {
            Some(DerivativeError::OfArgument)
        }
        Op::LayerNorm { axes, weight, .. } => {
            // The backward scales by rstd and divides by the deviation once more: an ulp
            // of the input moves the derivative by about rstd^2 |x| ulps.
            let rstd = no_grad(|| largest_rstd(args[0], *axes));
            let scale = if *weight { max_abs(args[1]) } else { 1.0 };
            Some(DerivativeError::Constant(rstd * rstd * max_abs(args[0]) * scale))
        }
        _ => None,
    }
}

/// `(x - x.detach()) * c`, zero in value (also where `x` is not finite), whose gradient
/// adds `c`: two ulps of the derivative's error size, signed by a hash of `x`.
fn gradient_probe(x: &Tensor, error: DerivativeError, run: u64) -> Tensor {
    let ulp = unit_roundoff(x.dtype());
    let values = no_grad(|| x.to_vec::<f64>());
    let slopes: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let size = match &error {
                DerivativeError::Constant(size) => *size,
                DerivativeError::OfArgument => v.abs().max(1.0),
                DerivativeError::PerElement(sizes) => sizes[i],
            };
            let slope = sign(mix(v.to_bits() ^ run)) * 2.0 * ulp * size;
            if slope.is_finite() { slope } else { 0.0 }
        })
        .collect();
    let slope = Tensor::from_vec(slopes, x.shape().to_vec()).to_dtype(x.dtype());
    let finite = no_grad(|| x.isnan().logical_or(&x.isinf()).logical_not());
    let zero = x.detach().zeros_like();
    finite.where_(&x.sub(&x.detach()).mul(&slope), &zero)
}

/// `1 / sqrt(var + eps)` of the row of `x` (over its last `axes` dims) with the smallest
/// variance: how much a layer norm can amplify an error of its input.
fn largest_rstd(x: &Tensor, axes: usize) -> f64 {
    let normalized: Vec<isize> = (x.rank() - axes..x.rank()).map(|d| d as isize).collect();
    let smallest_variance = x
        .to_dtype(DType::F64)
        .var_dims(&normalized, 0, false)
        .to_vec::<f64>()
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let eps = super::program::LAYER_NORM_EPS;
    if smallest_variance.is_finite() { 1.0 / (smallest_variance + eps).sqrt() } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::program::{Step, Unary, ValueId};

    #[test]
    fn perturbing_moves_by_ulps_and_keeps_equal_values_equal() {
        let x = Tensor::from_vec(vec![0.5f32, 0.5, -1.25, 3.0, 0.5], [5]);
        let step = Step { op: Op::Unary(Unary::Tanh), args: vec![ValueId(0)] };
        let y = x.tanh();
        let moved = perturb(0, &step, &[&x], y.clone(), 1, true).to_vec::<f32>();
        let exact = y.to_vec::<f32>();
        assert_eq!(moved[0], moved[1]);
        assert_eq!(moved[0], moved[4]);
        // Two ulps of the value plus two ulps of tanh's magnitude (1), and a rounding.
        for (m, e) in moved.iter().zip(&exact) {
            assert!((m - e).abs() <= 5.0 * f32::EPSILON, "{m} vs {e}");
        }
        assert_ne!(moved, exact, "the model moves something");
        assert_ne!(
            moved,
            perturb(0, &step, &[&x], y.clone(), 2, true).to_vec::<f32>(),
            "another salt moves differently"
        );
    }

    #[test]
    fn single_roundings_of_exact_values_are_not_moved() {
        let x = Tensor::from_vec(vec![0.1f32, -1.25], [2]);
        let step = Step { op: Op::Scalar(crate::fuzz::program::ScalarOp::Add, 0.3), args: vec![ValueId(0)] };
        let y = x.add_scalar(0.3);
        assert_eq!(perturb(0, &step, &[&x], y.clone(), 1, true).to_vec::<f32>(), y.to_vec::<f32>());
        assert_ne!(perturb(0, &step, &[&x], y.clone(), 1, false).to_vec::<f32>(), y.to_vec::<f32>());
    }

    #[test]
    fn steps_that_cannot_round_are_not_moved() {
        let x = Tensor::from_vec(vec![0.5f32, -1.25], [2]);
        let step = Step { op: Op::Unary(Unary::Relu), args: vec![ValueId(0)] };
        assert_eq!(perturb(0, &step, &[&x], x.relu(), 1, false).to_vec::<f32>(), vec![0.5, 0.0]);
    }

    #[test]
    fn a_sum_is_moved_by_ulps_of_its_terms() {
        // 1000 - 1000 + 1: the result is 1, its error scale the terms' 2001.
        let x = Tensor::from_vec(vec![1000.0f32, -1000.0, 1.0], [3]);
        let op = Op::Reduce { kind: Reduction::Sum, axes: vec![0], keepdim: false };
        assert_eq!(step_magnitude(&op, &[&x], &x.sum_dims(&[0], false)), 2001.0);
    }
}
