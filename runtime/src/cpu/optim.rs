//! Fused optimizer updates over contiguous f32 slices: one pass over the parameter, its
//! gradient and its state, instead of a chain of elementwise ops with temporaries.
//!
//! Each update follows PyTorch's single-tensor formula op by op in f32, with the
//! hyper-parameters rounded to f32 where PyTorch hands them to a kernel, so the results
//! match its CPU path to rounding. The work is elementwise, so how it is split across
//! threads never changes a bit. The runtime knows nothing of parameter groups or of which
//! optimizer is running; the frontend's `optim` module owns that.

use crate::parallel::{ELEMENTWISE_GRAIN, SendPtr, parallel_for};
use std::marker::PhantomData;
use std::ops::Range;

/// SGD's hyper-parameters for one step (PyTorch's `torch.optim.SGD`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

/// SGD's momentum buffer: absent (momentum 0), about to be filled with the first
/// gradient, or holding the running average.
#[derive(Debug)]
pub enum MomentumBuffer<'a> {
    None,
    First(&'a mut [f32]),
    Running(&'a mut [f32]),
}

/// Adam's and AdamW's hyper-parameters for one step; `step` counts from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: decay the parameter directly instead of adding `weight_decay * param` to the gradient.
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
    pub step: u64,
}

/// Adam's running moments; `max_exp_avg_sq` is present with AMSGrad.
#[derive(Debug)]
pub struct AdamMoments<'a> {
    pub exp_avg: &'a mut [f32],
    pub exp_avg_sq: &'a mut [f32],
    pub max_exp_avg_sq: Option<&'a mut [f32]>,
}

/// One SGD step: `param -= lr * update` where the update is the gradient with weight
/// decay, momentum (with dampening) and Nesterov's correction as configured.
pub fn sgd_f32(param: &mut [f32], grad: &[f32], buffer: MomentumBuffer, h: &SgdHyper) {
    let n = param.len();
    assert_eq!(grad.len(), n, "sgd_f32: gradient has {} elements, parameter {n}", grad.len());
    let (buffer, first) = match buffer {
        MomentumBuffer::None => (None, false),
        MomentumBuffer::First(b) => (Some(b), true),
        MomentumBuffer::Running(b) => (Some(b), false),
    };
    if let Some(b) = &buffer {
        assert_eq!(b.len(), n, "sgd_f32: momentum buffer has {} elements, parameter {n}", b.len());
    }
    let consts = SgdConsts {
        neg_lr: (-h.lr) as f32,
        weight_decay: (h.weight_decay != 0.0).then_some(h.weight_decay as f32),
        momentum: h.momentum as f32,
        one_minus_dampening: (1.0 - h.dampening) as f32,
        nesterov: h.nesterov,
        maximize: h.maximize,
        first,
    };
    let param = Shared::new(param);
    let buffer = buffer.map(Shared::new);
    parallel_for(n, ELEMENTWISE_GRAIN, |start, end| {
        let r = start..end;
        // SAFETY: `parallel_for` hands out disjoint ranges within `0..n`, and each shared
        // slice has `n` elements and is borrowed mutably for the whole call.
        let (p, b) = unsafe { (param.range(r.clone()), buffer.as_ref().map(|b| b.range(r.clone()))) };
        sgd_chunk(p, &grad[r], b, &consts);
    });
}

struct SgdConsts {
    neg_lr: f32,
    weight_decay: Option<f32>,
    momentum: f32,
    one_minus_dampening: f32,
    nesterov: bool,
    maximize: bool,
    first: bool,
}

fn sgd_chunk(param: &mut [f32], grad: &[f32], buffer: Option<&mut [f32]>, c: &SgdConsts) {
    let sign = if c.maximize { -1.0f32 } else { 1.0 };
    let direction = |g: f32, p: f32| match c.weight_decay {
        Some(wd) => sign * g + wd * p,
        None => sign * g,
    };
    match buffer {
        // The hot path of plain SGD: one read of each operand, one write.
        None if c.weight_decay.is_none() && !c.maximize => {
            for (p, &g) in param.iter_mut().zip(grad) {
                *p += c.neg_lr * g;
            }
        }
        None => {
            for (p, &g) in param.iter_mut().zip(grad) {
                *p += c.neg_lr * direction(g, *p);
            }
        }
        Some(buffer) => {
            for ((p, &g), b) in param.iter_mut().zip(grad).zip(buffer) {
                let d = direction(g, *p);
                *b = if c.first { d } else { *b * c.momentum + c.one_minus_dampening * d };
                let step = if c.nesterov { d + c.momentum * *b } else { *b };
                *p += c.neg_lr * step;
            }
        }
    }
}

/// One Adam (or AdamW) step, updating the moments and the parameter in place.
pub fn adam_f32(param: &mut [f32], grad: &[f32], moments: AdamMoments, h: &AdamHyper) {
    let n = param.len();
    assert!(h.step >= 1, "adam_f32: steps count from 1");
    assert_eq!(grad.len(), n, "adam_f32: gradient has {} elements, parameter {n}", grad.len());
    assert_eq!(moments.exp_avg.len(), n, "adam_f32: exp_avg has {} elements, parameter {n}", moments.exp_avg.len());
    assert_eq!(
        moments.exp_avg_sq.len(),
        n,
        "adam_f32: exp_avg_sq has {} elements, parameter {n}",
        moments.exp_avg_sq.len()
    );
    if let Some(m) = &moments.max_exp_avg_sq {
        assert_eq!(m.len(), n, "adam_f32: max_exp_avg_sq has {} elements, parameter {n}", m.len());
    }
    // Scalars in f64 as PyTorch computes them in Python, then rounded for the kernel.
    let step = h.step as f64;
    let bias_correction1 = 1.0 - h.beta1.powf(step);
    let bias_correction2 = 1.0 - h.beta2.powf(step);
    let (decay_factor, l2) = match (h.weight_decay != 0.0, h.decoupled_weight_decay) {
        (false, _) => (None, None),
        (true, true) => (Some((1.0 - h.lr * h.weight_decay) as f32), None),
        (true, false) => (None, Some(h.weight_decay as f32)),
    };
    let consts = AdamConsts {
        decay_factor,
        l2,
        sign: if h.maximize { -1.0 } else { 1.0 },
        lerp_weight: (1.0 - h.beta1) as f32,
        beta2: h.beta2 as f32,
        one_minus_beta2: (1.0 - h.beta2) as f32,
        bias_correction2_sqrt: bias_correction2.sqrt() as f32,
        eps: h.eps as f32,
        neg_step_size: (-(h.lr / bias_correction1)) as f32,
    };
    let param = Shared::new(param);
    let exp_avg = Shared::new(moments.exp_avg);
    let exp_avg_sq = Shared::new(moments.exp_avg_sq);
    let max_exp_avg_sq = moments.max_exp_avg_sq.map(Shared::new);
    parallel_for(n, ELEMENTWISE_GRAIN, |start, end| {
        let r = start..end;
        // SAFETY: as in `sgd_f32`: disjoint ranges of slices of `n` elements.
        unsafe {
            adam_chunk(
                param.range(r.clone()),
                &grad[r.clone()],
                exp_avg.range(r.clone()),
                exp_avg_sq.range(r.clone()),
                max_exp_avg_sq.as_ref().map(|m| m.range(r)),
                &consts,
            )
        }
    });
}

struct AdamConsts {
    decay_factor: Option<f32>,
    l2: Option<f32>,
    sign: f32,
    lerp_weight: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

fn adam_chunk(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    mut max_exp_avg_sq: Option<&mut [f32]>,
    c: &AdamConsts,
) {
    for i in 0..param.len() {
        let mut p = param[i];
        if let Some(f) = c.decay_factor {
            p *= f;
        }
        let g = match c.l2 {
            Some(wd) => c.sign * grad[i] + wd * p,
            None => c.sign * grad[i],
        };
        let m = lerp(exp_avg[i], g, c.lerp_weight);
        exp_avg[i] = m;
        let mut v = exp_avg_sq[i] * c.beta2 + c.one_minus_beta2 * g * g;
        exp_avg_sq[i] = v;
        if let Some(max) = max_exp_avg_sq.as_deref_mut() {
            v = if max[i] >= v || max[i].is_nan() { max[i] } else { v };
            max[i] = v;
        }
        let denom = v.sqrt() / c.bias_correction2_sqrt + c.eps;
        param[i] = p + c.neg_step_size * (m / denom);
    }
}

/// `start + weight * (end - start)`, in the two forms PyTorch's `lerp` picks between so
/// that `weight = 1` gives `end` exactly.
pub fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight.abs() < 0.5 { start + weight * (end - start) } else { end - (end - start) * (1.0 - weight) }
}

/// A mutable slice shared with worker threads, each of which takes a disjoint range.
struct Shared<'a> {
    ptr: SendPtr<f32>,
    len: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

impl<'a> Shared<'a> {
    fn new(slice: &'a mut [f32]) -> Self {
        Shared { ptr: SendPtr(slice.as_mut_ptr()), len: slice.len(), _borrow: PhantomData }
    }

    /// # Safety
    /// No two live results may overlap.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range(&self, r: Range<usize>) -> &mut [f32] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked) of a slice borrowed mutably for 'a; exclusivity of
        // the range is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.get().add(r.start), r.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SGD: SgdHyper =
        SgdHyper { lr: 0.1, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false };

    fn adam(step: u64) -> AdamHyper {
        AdamHyper {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
            step,
        }
    }

    #[test]
    fn plain_sgd_subtracts_the_scaled_gradient() {
        let mut p = [1.0f32, -2.0, 0.5];
        sgd_f32(&mut p, &[0.5, 1.0, -4.0], MomentumBuffer::None, &SGD);
        // p - 0.1 g = [1 - 0.05, -2 - 0.1, 0.5 + 0.4]
        assert_eq!(p, [0.95, -2.1, 0.9]);
    }

    #[test]
    fn sgd_momentum_weight_decay_and_nesterov() {
        let h = SgdHyper { momentum: 0.5, dampening: 0.0, weight_decay: 0.25, nesterov: true, ..SGD };
        let mut p = [2.0f32];
        let mut b = [0.0f32];
        // d = 1 + 0.25 * 2 = 1.5; first buffer = d = 1.5; step = d + 0.5 b = 2.25; p = 2 - 0.225.
        sgd_f32(&mut p, &[1.0], MomentumBuffer::First(&mut b), &h);
        assert_eq!((p[0], b[0]), (1.775, 1.5));
        // d = 1 + 0.25 * 1.775 = 1.44375; b = 0.5 * 1.5 + d = 2.19375; step = d + 0.5 b.
        sgd_f32(&mut p, &[1.0], MomentumBuffer::Running(&mut b), &h);
        let d = 1.0f32 + 0.25 * 1.775;
        let b1 = 0.5f32 * 1.5 + d;
        assert_eq!(b[0], b1);
        assert_eq!(p[0], 1.775 - 0.1 * (d + 0.5 * b1));
    }

    #[test]
    fn sgd_dampening_scales_new_gradients_only() {
        let h = SgdHyper { momentum: 0.9, dampening: 0.5, ..SGD };
        let mut p = [0.0f32];
        let mut b = [0.0f32];
        sgd_f32(&mut p, &[2.0], MomentumBuffer::First(&mut b), &h);
        assert_eq!(b[0], 2.0); // the first buffer is the undamped gradient
        sgd_f32(&mut p, &[2.0], MomentumBuffer::Running(&mut b), &h);
        assert_eq!(b[0], 0.9 * 2.0 + 0.5 * 2.0);
        assert_eq!(p[0], -0.2 - 0.1 * 2.8f32);
    }

    #[test]
    fn sgd_maximize_ascends() {
        let mut p = [1.0f32];
        sgd_f32(&mut p, &[1.0], MomentumBuffer::None, &SgdHyper { maximize: true, ..SGD });
        assert_eq!(p[0], 1.1);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // After one step m / (1 - b1) = g and v / (1 - b2) = g^2, so the update is
        // lr * g / (|g| + eps) ~ lr * sign(g), whatever the gradient's scale.
        let mut p = [1.0f32, 1.0, 1.0];
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
        let moments = AdamMoments { exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
        adam_f32(&mut p, &[1e-3, -5.0, 100.0], moments, &adam(1));
        for (got, want) in p.iter().zip([0.9, 1.1, 0.9]) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        assert_eq!(m, [1e-3 * 0.1f32, -0.5, 10.0]);
    }

    #[test]
    fn adamw_decays_the_parameter_not_the_gradient() {
        let h = AdamHyper { weight_decay: 0.5, decoupled_weight_decay: true, ..adam(1) };
        let mut p = [2.0f32];
        let (mut m, mut v) = ([0.0f32], [0.0f32]);
        adam_f32(&mut p, &[0.0], AdamMoments { exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None }, &h);
        // Zero gradient: only the decay acts, p * (1 - 0.1 * 0.5).
        assert_eq!((p[0], m[0], v[0]), (1.9, 0.0, 0.0));
    }

    #[test]
    fn amsgrad_keeps_the_largest_second_moment() {
        let mut p = [0.0f32];
        let (mut m, mut v, mut max) = ([0.0f32], [0.0f32], [0.0f32]);
        let h = adam(1);
        adam_f32(
            &mut p,
            &[10.0],
            AdamMoments { exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: Some(&mut max) },
            &h,
        );
        assert_eq!(max[0], v[0]);
        let peak = max[0];
        let h = adam(2);
        adam_f32(
            &mut p,
            &[0.0],
            AdamMoments { exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: Some(&mut max) },
            &h,
        );
        assert!(v[0] < peak);
        assert_eq!(max[0], peak);
    }

    #[test]
    fn large_updates_match_the_single_chunk_result() {
        // Long enough to be split across threads: every element must see the same math as
        // a short slice does.
        let n = 3 * ELEMENTWISE_GRAIN + 17;
        let grad: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0).collect();
        let start: Vec<f32> = (0..n).map(|i| ((i * 104729) % 997) as f32 / 500.0 - 1.0).collect();
        let h = SgdHyper { momentum: 0.9, weight_decay: 0.01, nesterov: true, ..SGD };
        let mut p = start.clone();
        let mut b = vec![0.0f32; n];
        sgd_f32(&mut p, &grad, MomentumBuffer::First(&mut b), &h);
        for i in [0, 1, ELEMENTWISE_GRAIN, n - 1] {
            let (mut pi, mut bi) = ([start[i]], [0.0f32]);
            sgd_f32(&mut pi, &grad[i..=i], MomentumBuffer::First(&mut bi), &h);
            assert_eq!((p[i], b[i]), (pi[0], bi[0]), "element {i}");
        }
        let mut p = start.clone();
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        adam_f32(&mut p, &grad, AdamMoments { exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None }, &adam(1));
        for i in [0, ELEMENTWISE_GRAIN + 5, n - 1] {
            let (mut pi, mut mi, mut vi) = ([start[i]], [0.0f32], [0.0f32]);
            let moments = AdamMoments { exp_avg: &mut mi, exp_avg_sq: &mut vi, max_exp_avg_sq: None };
            adam_f32(&mut pi, &grad[i..=i], moments, &adam(1));
            assert_eq!((p[i], m[i], v[i]), (pi[0], mi[0], vi[0]), "element {i}");
        }
    }

    #[test]
    fn lerp_hits_the_end_points() {
        assert_eq!(lerp(3.0, 7.0, 0.0), 3.0);
        assert_eq!(lerp(3.0, 7.0, 1.0), 7.0);
        assert_eq!(lerp(3.0, 7.0, 0.25), 4.0);
        assert_eq!(lerp(3.0, 7.0, 0.75), 6.0);
    }
}
