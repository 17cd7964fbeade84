//! RMSprop (`torch.optim.RMSprop`): divides the gradient by a running root mean square,
//! optionally centered (by the running mean) and with momentum.

use super::sgd::check_non_negative;
use super::{GroupOptions, ParamState, StateReader, StateWriter, UpdateRule, add_scaled_host_, decayed_grad, lerp_};
use crate::error::Result;
use crate::tensor::Tensor;

/// RMSprop: `RmsProp::new(params, RmsPropOptions::default().centered(true))`.
pub type RmsProp = super::GenericOptimizer<RmsPropRule>;

/// RMSprop's hyper-parameters, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropOptions {
    /// Default 1e-2.
    pub lr: f64,
    /// Smoothing constant of the running averages; default 0.99.
    pub alpha: f64,
    /// Added to the denominator; default 1e-8.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    pub momentum: f64,
    /// Normalize by the estimated variance instead of the uncentered second moment.
    pub centered: bool,
    pub maximize: bool,
}

impl Default for RmsPropOptions {
    fn default() -> Self {
        RmsPropOptions {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmsPropOptions {
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
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
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
}

impl GroupOptions for RmsPropOptions {
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn cycled_momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }
    fn set_cycled_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }
    fn check(&self) -> std::result::Result<(), String> {
        check_non_negative(&[
            ("lr", self.lr),
            ("eps", self.eps),
            ("momentum", self.momentum),
            ("weight_decay", self.weight_decay),
            ("alpha", self.alpha),
        ])
    }
    fn save(&self, out: &mut StateWriter) {
        out.value("lr", self.lr);
        out.value("alpha", self.alpha);
        out.value("eps", self.eps);
        out.value("weight_decay", self.weight_decay);
        out.value("momentum", self.momentum);
        out.value("centered", self.centered);
        out.value("maximize", self.maximize);
    }
    fn load(input: &StateReader) -> Result<Self> {
        Ok(RmsPropOptions {
            lr: input.value("lr")?,
            alpha: input.value("alpha")?,
            eps: input.value("eps")?,
            weight_decay: input.value("weight_decay")?,
            momentum: input.value("momentum")?,
            centered: input.value("centered")?,
            maximize: input.value("maximize")?,
        })
    }
}

/// RMSprop's per-parameter state.
#[derive(Clone, Debug)]
pub struct RmsPropState {
    pub step: u64,
    pub square_avg: Tensor,
    /// With momentum.
    pub momentum_buffer: Option<Tensor>,
    /// When centered: the running mean of the gradient.
    pub grad_avg: Option<Tensor>,
}

impl ParamState for RmsPropState {
    fn save(&self, out: &mut StateWriter) {
        out.value("step", self.step);
        out.tensor("square_avg", &self.square_avg);
        if let Some(b) = &self.momentum_buffer {
            out.tensor("momentum_buffer", b);
        }
        if let Some(g) = &self.grad_avg {
            out.tensor("grad_avg", g);
        }
    }
    fn load(input: &StateReader, param: &Tensor) -> Result<Self> {
        let optional = |key| if input.has_tensor(key) { input.tensor_like(key, param).map(Some) } else { Ok(None) };
        Ok(RmsPropState {
            step: input.value("step")?,
            square_avg: input.tensor_like("square_avg", param)?,
            momentum_buffer: optional("momentum_buffer")?,
            grad_avg: optional("grad_avg")?,
        })
    }
}

/// The RMSprop update rule.
#[derive(Debug)]
pub enum RmsPropRule {}

impl UpdateRule for RmsPropRule {
    const NAME: &'static str = "rmsprop";
    type Options = RmsPropOptions;
    type State = RmsPropState;

    fn update(o: &RmsPropOptions, param: &Tensor, grad: &Tensor, state: &mut Option<RmsPropState>) {
        let s = state.get_or_insert_with(|| RmsPropState {
            step: 0,
            square_avg: super::state_filled(param, 0.0),
            momentum_buffer: None,
            grad_avg: None,
        });
        s.step += 1;
        let grad = decayed_grad(param, grad, o.weight_decay, o.maximize);
        s.square_avg.mul_scalar_(o.alpha).add_scaled_(&grad.mul(&grad), 1.0 - o.alpha);
        let avg = if o.centered {
            let grad_avg = s.grad_avg.get_or_insert_with(|| super::state_filled(param, 0.0));
            lerp_(grad_avg, &grad, 1.0 - o.alpha);
            s.square_avg.sub(&grad_avg.mul(grad_avg)).sqrt()
        } else {
            s.square_avg.sqrt()
        };
        let avg = avg.add_scalar(o.eps);
        if o.momentum > 0.0 {
            let buffer = s.momentum_buffer.get_or_insert_with(|| super::state_filled(param, 0.0));
            buffer.mul_scalar_(o.momentum).add_(&grad.div(&avg));
            add_scaled_host_(param, buffer, -o.lr);
        } else {
            add_scaled_host_(param, &grad.div(&avg), -o.lr);
        }
    }
}
