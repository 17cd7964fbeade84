//! Adam (`torch.optim.Adam`, L2 weight decay added to the gradient, optional AMSGrad) and
//! AdamW (`torch.optim.AdamW`, decoupled weight decay): one update, two option sets.

use super::sgd::check_non_negative;
use super::{GroupOptions, ParamState, StateReader, StateWriter, UpdateRule};
use super::{add_scaled_host_, decayed_grad, div_host, f32_elements, f32_elements_mut, fusable, lerp_, mul_host_};
use crate::error::Result;
use crate::tensor::Tensor;
use ignis_runtime::cpu::optim::{AdamHyper, AdamMoments, adam_f32};

/// Adam: `Adam::new(params, AdamOptions { lr: 3e-4, ..Default::default() })`.
pub type Adam = super::GenericOptimizer<AdamRule>;

/// AdamW: Adam with decoupled weight decay (default 1e-2).
pub type AdamW = super::GenericOptimizer<AdamWRule>;

macro_rules! adam_options {
    ($(#[$doc:meta])* $name:ident, weight_decay = $decay:expr, $weight_decay_doc:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            /// Default 1e-3.
            pub lr: f64,
            /// Decay rates of the running averages of the gradient and its square;
            /// default (0.9, 0.999).
            pub betas: (f64, f64),
            /// Added to the denominator; default 1e-8.
            pub eps: f64,
            #[doc = $weight_decay_doc]
            pub weight_decay: f64,
            /// Normalize by the largest second moment seen so far (AMSGrad).
            pub amsgrad: bool,
            /// Ascend instead of descend.
            pub maximize: bool,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: $decay, amsgrad: false, maximize: false }
            }
        }

        impl $name {
            pub fn lr(mut self, lr: f64) -> Self {
                self.lr = lr;
                self
            }
            pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.betas = (beta1, beta2);
                self
            }
            pub fn eps(mut self, eps: f64) -> Self {
                self.eps = eps;
                self
            }
            pub fn weight_decay(mut self, weight_decay: f64) -> Self {
                self.weight_decay = weight_decay;
                self
            }
            pub fn amsgrad(mut self, amsgrad: bool) -> Self {
                self.amsgrad = amsgrad;
                self
            }
            pub fn maximize(mut self, maximize: bool) -> Self {
                self.maximize = maximize;
                self
            }
        }

        impl GroupOptions for $name {
            fn learning_rate(&self) -> f64 {
                self.lr
            }
            fn set_learning_rate(&mut self, lr: f64) {
                self.lr = lr;
            }
            /// Adam's momentum is `beta1`.
            fn cycled_momentum(&self) -> Option<f64> {
                Some(self.betas.0)
            }
            fn set_cycled_momentum(&mut self, momentum: f64) {
                self.betas.0 = momentum;
            }
            fn check(&self) -> std::result::Result<(), String> {
                check_non_negative(&[("lr", self.lr), ("eps", self.eps), ("weight_decay", self.weight_decay)])?;
                for (i, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
                    if !(0.0..1.0).contains(&beta) {
                        return Err(format!("beta{} must be in [0, 1), got {beta}", i + 1));
                    }
                }
                Ok(())
            }
            fn save(&self, out: &mut StateWriter) {
                out.value("lr", self.lr);
                out.value("beta1", self.betas.0);
                out.value("beta2", self.betas.1);
                out.value("eps", self.eps);
                out.value("weight_decay", self.weight_decay);
                out.value("amsgrad", self.amsgrad);
                out.value("maximize", self.maximize);
            }
            fn load(input: &StateReader) -> Result<Self> {
                Ok($name {
                    lr: input.value("lr")?,
                    betas: (input.value("beta1")?, input.value("beta2")?),
                    eps: input.value("eps")?,
                    weight_decay: input.value("weight_decay")?,
                    amsgrad: input.value("amsgrad")?,
                    maximize: input.value("maximize")?,
                })
            }
        }
    };
}

adam_options!(
    /// Adam's hyper-parameters, with PyTorch's defaults.
    AdamOptions, weight_decay = 0.0, "L2 penalty: `weight_decay * param` is added to the gradient."
);

adam_options!(
    /// AdamW's hyper-parameters, with PyTorch's defaults.
    AdamWOptions, weight_decay = 1e-2, "Decoupled decay: each step scales the parameter by `1 - lr * weight_decay`; default 1e-2."
);

/// Adam's per-parameter state: the step count and the running moments.
#[derive(Clone, Debug)]
pub struct AdamState {
    pub step: u64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
    /// With AMSGrad: the largest `exp_avg_sq` so far.
    pub max_exp_avg_sq: Option<Tensor>,
}

impl ParamState for AdamState {
    fn save(&self, out: &mut StateWriter) {
        out.value("step", self.step);
        out.tensor("exp_avg", &self.exp_avg);
        out.tensor("exp_avg_sq", &self.exp_avg_sq);
        if let Some(max) = &self.max_exp_avg_sq {
            out.tensor("max_exp_avg_sq", max);
        }
    }
    fn load(input: &StateReader, param: &Tensor) -> Result<Self> {
        let max_exp_avg_sq =
            if input.has_tensor("max_exp_avg_sq") { Some(input.tensor_like("max_exp_avg_sq", param)?) } else { None };
        Ok(AdamState {
            step: input.value("step")?,
            exp_avg: input.tensor_like("exp_avg", param)?,
            exp_avg_sq: input.tensor_like("exp_avg_sq", param)?,
            max_exp_avg_sq,
        })
    }
}

/// The Adam update rule (weight decay as L2 on the gradient).
#[derive(Debug)]
pub enum AdamRule {}

/// The AdamW update rule (decoupled weight decay).
#[derive(Debug)]
pub enum AdamWRule {}

impl UpdateRule for AdamRule {
    const NAME: &'static str = "adam";
    type Options = AdamOptions;
    type State = AdamState;
    fn update(o: &AdamOptions, param: &Tensor, grad: &Tensor, state: &mut Option<AdamState>) {
        let hyper = hyper(o.lr, o.betas, o.eps, o.weight_decay, false, o.maximize);
        adam_update(hyper, o.amsgrad, param, grad, state);
    }
}

impl UpdateRule for AdamWRule {
    const NAME: &'static str = "adamw";
    type Options = AdamWOptions;
    type State = AdamState;
    fn update(o: &AdamWOptions, param: &Tensor, grad: &Tensor, state: &mut Option<AdamState>) {
        let hyper = hyper(o.lr, o.betas, o.eps, o.weight_decay, true, o.maximize);
        adam_update(hyper, o.amsgrad, param, grad, state);
    }
}

fn hyper(lr: f64, betas: (f64, f64), eps: f64, weight_decay: f64, decoupled: bool, maximize: bool) -> AdamHyper {
    AdamHyper {
        lr,
        beta1: betas.0,
        beta2: betas.1,
        eps,
        weight_decay,
        decoupled_weight_decay: decoupled,
        maximize,
        step: 0,
    }
}

fn adam_update(mut h: AdamHyper, amsgrad: bool, param: &Tensor, grad: &Tensor, state: &mut Option<AdamState>) {
    let s = state.get_or_insert_with(|| AdamState {
        step: 0,
        exp_avg: super::state_filled(param, 0.0),
        exp_avg_sq: super::state_filled(param, 0.0),
        max_exp_avg_sq: None,
    });
    if amsgrad && s.max_exp_avg_sq.is_none() {
        s.max_exp_avg_sq = Some(super::state_filled(param, 0.0));
    }
    s.step += 1;
    h.step = s.step;
    let max_exp_avg_sq = if amsgrad { s.max_exp_avg_sq.as_ref() } else { None };

    let mut buffers = vec![&s.exp_avg, &s.exp_avg_sq];
    buffers.extend(max_exp_avg_sq);
    if fusable(param, grad, &buffers) {
        // SAFETY: `fusable` checked that the gradient shares no storage with what the
        // kernel writes; the moments are the optimizer's own storages, distinct from the
        // parameter's and from each other.
        unsafe {
            let moments = AdamMoments {
                exp_avg: f32_elements_mut(&s.exp_avg),
                exp_avg_sq: f32_elements_mut(&s.exp_avg_sq),
                max_exp_avg_sq: max_exp_avg_sq.map(|m| f32_elements_mut(m)),
            };
            adam_f32(f32_elements_mut(param), f32_elements(grad), moments, &h);
        }
        return;
    }

    let step = h.step as f64;
    let bias_correction1 = 1.0 - h.beta1.powf(step);
    let bias_correction2_sqrt = (1.0 - h.beta2.powf(step)).sqrt();
    let grad = if h.decoupled_weight_decay {
        if h.weight_decay != 0.0 {
            mul_host_(param, 1.0 - h.lr * h.weight_decay);
        }
        decayed_grad(param, grad, 0.0, h.maximize)
    } else {
        decayed_grad(param, grad, h.weight_decay, h.maximize)
    };
    lerp_(&s.exp_avg, &grad, 1.0 - h.beta1);
    s.exp_avg_sq.mul_scalar_(h.beta2).add_scaled_(&grad.mul(&grad), 1.0 - h.beta2);
    let second_moment = match max_exp_avg_sq {
        Some(max) => max.copy_(&max.maximum(&s.exp_avg_sq)),
        None => &s.exp_avg_sq,
    };
    let denom = div_host(&second_moment.sqrt(), bias_correction2_sqrt).add_scalar(h.eps);
    add_scaled_host_(param, &s.exp_avg.div(&denom), -(h.lr / bias_correction1));
}
