//! Points where a gradient jumps: `relu`, `abs` (inside the guarded `log`, `sqrt`,
//! `recip`, the safe denominators and `pow` bases), `leaky_relu`, `elu`, the bounds of
//! `clamp` and of `pow`'s exponent, and the winners of `maximum`, `minimum`, `max`, `min`.
//!
//! Values are continuous there, gradients are not: when an argument that rounding may
//! move lies near such a point, a correct backend may land on the other side and get a
//! different gradient. Such a call compares values only. "Near" is either within the
//! argument's tolerance of the point (but not on it: a zero that `relu` made stays zero on
//! any backend), or on another side in one of the noise model's runs (which also catches
//! a zero that cancellation made, which rounding can move).

use super::infer::Meta;
use super::program::{Binary, Op, POW_EXPONENT_LIMIT, Program, Reduction, Step, Unary, ValueId};
use ignis::{DType, Tensor, no_grad};

/// The first step whose arguments lie near a point where its gradient jumps, as
/// `v7 (relu)`, or `None`.
///
/// `pool` holds every value of the reference run, `scales` the magnitude each was computed
/// from (the absolute part of its rounding error), `perturbed` the pools of the noise
/// model's runs on the same inputs.
pub fn near_kink(
    program: &Program,
    metas: &[Meta],
    pool: &[Tensor],
    scales: &[f64],
    perturbed: &[Vec<Tensor>],
) -> Option<String> {
    no_grad(|| {
        for (i, step) in program.steps.iter().enumerate() {
            let Some((distances, moving)) = kink_distances(step, pool) else { continue };
            // How close rounding may bring the arguments that move.
            let reach = moving
                .iter()
                .filter(|a| !metas[a.0].is_exact())
                .map(|a| metas[a.0].precision.relative_tolerance() * scales[a.0])
                .fold(0.0, f64::max);
            if reach == 0.0 {
                continue;
            }
            let reference: Vec<Vec<f64>> = distances.iter().map(|d| d.to_vec::<f64>()).collect();
            let close = reference.iter().flatten().any(|&d| d != 0.0 && d.abs() <= reach);
            let crossed = perturbed.iter().any(|other| {
                let Some((moved, _)) = kink_distances(step, other) else { return false };
                moved
                    .iter()
                    .zip(&reference)
                    .any(|(m, r)| m.to_vec::<f64>().iter().zip(r).any(|(a, b)| side(*a) != side(*b)))
            });
            if close || crossed {
                return Some(format!("v{} ({})", program.inputs.len() + i, step.op.name()));
            }
        }
        None
    })
}

/// -1, 0 or 1; NaN is its own side.
fn side(distance: f64) -> i8 {
    if distance.is_nan() {
        2
    } else if distance > 0.0 {
        1
    } else if distance < 0.0 {
        -1
    } else {
        0
    }
}

/// For a step with kinks: the signed distances (in f64) of its arguments in `pool` from
/// each kink, and the arguments whose rounding moves them; `None` for steps without kinks.
/// For `max` and `min` the distance is to the winner, zero on the winners themselves.
fn kink_distances(step: &Step, pool: &[Tensor]) -> Option<(Vec<Tensor>, Vec<ValueId>)> {
    let arg = |k: usize| pool[step.args[k].0].to_dtype(DType::F64);
    let first = vec![step.args[0]];
    match &step.op {
        Op::Unary(u) => match u {
            Unary::Relu
            | Unary::Abs
            | Unary::LeakyRelu(_)
            | Unary::Elu(_)
            | Unary::LogAbs
            | Unary::Log1pAbs
            | Unary::SqrtAbs
            | Unary::RsqrtAbs
            | Unary::Recip => Some((vec![arg(0)], first)),
            Unary::Clamp(lo, hi) => Some((vec![arg(0).sub_scalar(*lo), arg(0).sub_scalar(*hi)], first)),
            _ => None,
        },
        Op::Binary(Binary::Maximum | Binary::Minimum) => Some((vec![arg(0).sub(&arg(1))], step.args.clone())),
        Op::Binary(Binary::DivSafe) => Some((vec![arg(1)], vec![step.args[1]])),
        Op::Binary(Binary::PowSafe) => {
            let exponent = arg(1).abs().sub_scalar(POW_EXPONENT_LIMIT);
            Some((vec![arg(0), exponent], step.args.clone()))
        }
        Op::Reduce { kind: kind @ (Reduction::Max | Reduction::Min), axes, .. } => {
            let x = arg(0);
            if x.numel() == 0 {
                return None;
            }
            let axes: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            let winner = if *kind == Reduction::Max { x.max_dims(&axes, true) } else { x.min_dims(&axes, true) };
            Some((vec![x.sub(&winner)], first))
        }
        _ => None,
    }
}
