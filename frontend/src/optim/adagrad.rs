//! Adagrad (`torch.optim.Adagrad`): divides the gradient by the root of the sum of all
//! squared gradients so far, with an optionally decaying learning rate.

use super::sgd::check_non_negative;
use super::{GroupOptions, ParamState, StateReader, StateWriter, UpdateRule, add_scaled_host_, decayed_grad};
use crate::error::Result;
use crate::tensor::Tensor;

/// Adagrad: `Adagrad::new(params, AdagradOptions::default().lr_decay(1e-3))`.
pub type Adagrad = super::GenericOptimizer<AdagradRule>;

/// Adagrad's hyper-parameters, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AdagradOptions {
    /// Default 1e-2.
    pub lr: f64,
    /// Step `t` uses `lr / (1 + (t - 1) * lr_decay)`.
    pub lr_decay: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Starting value of the sum of squared gradients.
    pub initial_accumulator_value: f64,
    /// Added to the denominator; default 1e-10.
    pub eps: f64,
    pub maximize: bool,
}

impl Default for AdagradOptions {
    fn default() -> Self {
        AdagradOptions {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdagradOptions {
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    pub fn lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
}

impl GroupOptions for AdagradOptions {
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn check(&self) -> std::result::Result<(), String> {
        check_non_negative(&[
            ("lr", self.lr),
            ("lr_decay", self.lr_decay),
            ("weight_decay", self.weight_decay),
            ("initial_accumulator_value", self.initial_accumulator_value),
            ("eps", self.eps),
        ])
    }
    fn save(&self, out: &mut StateWriter) {
        out.value("lr", self.lr);
        out.value("lr_decay", self.lr_decay);
        out.value("weight_decay", self.weight_decay);
        out.value("initial_accumulator_value", self.initial_accumulator_value);
        out.value("eps", self.eps);
        out.value("maximize", self.maximize);
    }
    fn load(input: &StateReader) -> Result<Self> {
        Ok(AdagradOptions {
            lr: input.value("lr")?,
            lr_decay: input.value("lr_decay")?,
            weight_decay: input.value("weight_decay")?,
            initial_accumulator_value: input.value("initial_accumulator_value")?,
            eps: input.value("eps")?,
            maximize: input.value("maximize")?,
        })
    }
}

/// Adagrad's per-parameter state.
#[derive(Clone, Debug)]
pub struct AdagradState {
    pub step: u64,
    /// The sum of squared gradients (from `initial_accumulator_value`).
    pub sum: Tensor,
}

impl ParamState for AdagradState {
    fn save(&self, out: &mut StateWriter) {
        out.value("step", self.step);
        out.tensor("sum", &self.sum);
    }
    fn load(input: &StateReader, param: &Tensor) -> Result<Self> {
        Ok(AdagradState { step: input.value("step")?, sum: input.tensor_like("sum", param)? })
    }
}

/// The Adagrad update rule.
#[derive(Debug)]
pub enum AdagradRule {}

impl UpdateRule for AdagradRule {
    const NAME: &'static str = "adagrad";
    type Options = AdagradOptions;
    type State = AdagradState;

    fn update(o: &AdagradOptions, param: &Tensor, grad: &Tensor, state: &mut Option<AdagradState>) {
        let s = state.get_or_insert_with(|| AdagradState {
            step: 0,
            sum: super::state_filled(param, o.initial_accumulator_value),
        });
        s.step += 1;
        let grad = decayed_grad(param, grad, o.weight_decay, o.maximize);
        let lr = o.lr / (1.0 + (s.step - 1) as f64 * o.lr_decay);
        s.sum.add_(&grad.mul(&grad));
        let std = s.sum.sqrt().add_scalar(o.eps);
        add_scaled_host_(param, &grad.div(&std), -lr);
    }
}
