//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
//! decay (`torch.optim.SGD`).

use super::{GroupOptions, ParamState, StateReader, StateWriter, UpdateRule};
use super::{add_scaled_host_, decayed_grad, f32_elements, f32_elements_mut, fusable, uninit_like};
use crate::error::Result;
use crate::tensor::Tensor;
use ignis_runtime::cpu::optim::{MomentumBuffer, SgdHyper, sgd_f32};

/// SGD: `Sgd::new(params, SgdOptions { lr: 0.1, momentum: 0.9, ..Default::default() })`.
pub type Sgd = super::GenericOptimizer<SgdRule>;

/// SGD's hyper-parameters, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdOptions {
    /// Default 1e-3.
    pub lr: f64,
    pub momentum: f64,
    /// Scales the gradient added to the momentum buffer by `1 - dampening`.
    pub dampening: f64,
    /// L2 penalty: `weight_decay * param` is added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum; needs `momentum > 0` and `dampening == 0`.
    pub nesterov: bool,
    /// Ascend instead of descend.
    pub maximize: bool,
}

impl Default for SgdOptions {
    fn default() -> Self {
        SgdOptions { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

impl SgdOptions {
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
}

impl GroupOptions for SgdOptions {
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
        check_non_negative(&[("lr", self.lr), ("momentum", self.momentum), ("weight_decay", self.weight_decay)])?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(format!(
                "nesterov momentum requires momentum > 0 and dampening = 0, got momentum {} and dampening {}",
                self.momentum, self.dampening
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut StateWriter) {
        out.value("lr", self.lr);
        out.value("momentum", self.momentum);
        out.value("dampening", self.dampening);
        out.value("weight_decay", self.weight_decay);
        out.value("nesterov", self.nesterov);
        out.value("maximize", self.maximize);
    }

    fn load(input: &StateReader) -> Result<Self> {
        Ok(SgdOptions {
            lr: input.value("lr")?,
            momentum: input.value("momentum")?,
            dampening: input.value("dampening")?,
            weight_decay: input.value("weight_decay")?,
            nesterov: input.value("nesterov")?,
            maximize: input.value("maximize")?,
        })
    }
}

/// Each named value must be `>= 0` (and not NaN).
pub(super) fn check_non_negative(values: &[(&str, f64)]) -> std::result::Result<(), String> {
    match values.iter().find(|(_, v)| v.is_nan() || *v < 0.0) {
        Some((name, v)) => Err(format!("{name} must be >= 0, got {v}")),
        None => Ok(()),
    }
}

/// SGD keeps a momentum buffer per parameter when momentum is nonzero.
#[derive(Clone, Debug)]
pub struct SgdState {
    pub momentum_buffer: Tensor,
}

impl ParamState for SgdState {
    fn save(&self, out: &mut StateWriter) {
        out.tensor("momentum_buffer", &self.momentum_buffer);
    }
    fn load(input: &StateReader, param: &Tensor) -> Result<Self> {
        Ok(SgdState { momentum_buffer: input.tensor_like("momentum_buffer", param)? })
    }
}

/// The SGD update rule.
#[derive(Debug)]
pub enum SgdRule {}

impl UpdateRule for SgdRule {
    const NAME: &'static str = "sgd";
    type Options = SgdOptions;
    type State = SgdState;

    fn update(o: &SgdOptions, param: &Tensor, grad: &Tensor, state: &mut Option<SgdState>) {
        let buffer = state.as_ref().map(|s| &s.momentum_buffer);
        if fusable(param, grad, buffer.as_slice()) {
            let hyper = SgdHyper {
                lr: o.lr,
                momentum: o.momentum,
                dampening: o.dampening,
                weight_decay: o.weight_decay,
                nesterov: o.nesterov,
                maximize: o.maximize,
            };
            let first = state.is_none();
            let buffer = (o.momentum != 0.0).then(|| {
                &state.get_or_insert_with(|| SgdState { momentum_buffer: uninit_like(param) }).momentum_buffer
            });
            // SAFETY: `fusable` checked that the gradient shares no storage with what the
            // kernel writes; the parameter and its buffer are different storages, and
            // nothing else touches them during the call.
            unsafe {
                let buffer = match buffer {
                    None => MomentumBuffer::None,
                    Some(b) if first => MomentumBuffer::First(f32_elements_mut(b)),
                    Some(b) => MomentumBuffer::Running(f32_elements_mut(b)),
                };
                sgd_f32(f32_elements_mut(param), f32_elements(grad), buffer, &hyper);
            }
            return;
        }
        let mut direction = decayed_grad(param, grad, o.weight_decay, o.maximize);
        if o.momentum != 0.0 {
            let buffer = match state {
                None => &state.insert(SgdState { momentum_buffer: direction.contiguous_copy() }).momentum_buffer,
                Some(s) => {
                    s.momentum_buffer.mul_scalar_(o.momentum).add_scaled_(&direction, 1.0 - o.dampening);
                    &s.momentum_buffer
                }
            };
            direction = if o.nesterov { direction.add(&buffer.mul_scalar(o.momentum)) } else { buffer.clone() };
        }
        add_scaled_host_(param, &direction, -o.lr);
    }
}
