//! Gradient clipping (`torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`): rescale
//! or clamp the gradients of parameters in place, before the optimizer's step.

use super::state::optimizer_error;
use crate::error::Result;
use crate::tensor::Tensor;

/// Scales the gradients of `params` so that their total `norm_type`-norm (of all
/// gradients together, as if concatenated) is at most `max_norm`; returns the total norm
/// before clipping. `norm_type` is any `p > 0`, or `f64::INFINITY` for the largest
/// absolute value. Parameters without a gradient are ignored; with none, the norm is 0.
///
/// As in PyTorch the scale is `max_norm / (total_norm + 1e-6)` when that is below 1, and
/// a NaN or infinite norm turns the gradients into NaN (see `try_clip_grad_norm_`).
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64) -> f64 {
    let grads = grads_of(params);
    let total = total_norm(&grads, norm_type);
    scale_to(&grads, max_norm, total);
    total
}

/// `clip_grad_norm_` with PyTorch's `error_if_nonfinite=True`: a NaN or infinite total
/// norm is an error, and the gradients are left as they were.
pub fn try_clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64) -> Result<f64> {
    let grads = grads_of(params);
    let total = total_norm(&grads, norm_type);
    if !total.is_finite() {
        return Err(optimizer_error(format!(
            "the total norm of order {norm_type} of the gradients of {} parameters is non-finite ({total}), \
             so it cannot be clipped",
            grads.len()
        )));
    }
    scale_to(&grads, max_norm, total);
    Ok(total)
}

/// Clamps every gradient of `params` into `[-clip_value, clip_value]`.
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) {
    assert!(clip_value >= 0.0, "clip_grad_value_: clip_value must be >= 0, got {clip_value}");
    crate::no_grad(|| {
        for grad in grads_of(params) {
            grad.clamp_(Some(-clip_value), Some(clip_value));
        }
    });
}

fn grads_of(params: &[Tensor]) -> Vec<Tensor> {
    params.iter().filter_map(Tensor::grad).collect()
}

/// The norm of the norms of each gradient (each computed in its own dtype, as PyTorch
/// does), combined in f64.
fn total_norm(grads: &[Tensor], p: f64) -> f64 {
    assert!(p > 0.0, "clip_grad_norm_: norm_type must be > 0 or infinity, got {p}");
    crate::no_grad(|| {
        let norms = grads.iter().map(|g| {
            if g.numel() == 0 {
                0.0
            } else if p == f64::INFINITY {
                g.abs().max_all().item_f64()
            } else if p == 2.0 {
                g.square().sum_all().sqrt().item_f64()
            } else {
                g.abs().pow_scalar(p).sum_all().pow_scalar(1.0 / p).item_f64()
            }
        });
        if p == f64::INFINITY {
            norms.fold(0.0, |a: f64, b| if b.is_nan() || a.is_nan() { f64::NAN } else { a.max(b) })
        } else {
            norms.map(|n| n.powf(p)).sum::<f64>().powf(1.0 / p)
        }
    })
}

fn scale_to(grads: &[Tensor], max_norm: f64, total: f64) {
    let coefficient = max_norm / (total + 1e-6);
    // `clamp(coefficient, max=1)`, keeping a NaN as PyTorch's clamp does.
    if coefficient < 1.0 || coefficient.is_nan() {
        crate::no_grad(|| {
            for g in grads {
                g.mul_scalar_(coefficient);
            }
        });
    }
}
