//! Optimizers, learning-rate schedules and gradient clipping, after `torch.optim`.
//!
//! Every optimizer is a [`GenericOptimizer`] over an [`UpdateRule`]: the rule owns the
//! hyper-parameters of a group, the per-parameter state and the update formula (PyTorch's
//! single-tensor CPU path, step for step); the generic part owns parameter groups,
//! skipping parameters without a gradient, `zero_grad`, the learning rates schedulers
//! read and write, and `state_dict`/`load_state_dict`.
//!
//! Updates run under `no_grad` and write parameters in place. Contiguous f32 parameters
//! with contiguous f32 gradients take fused runtime kernels (SGD, Adam, AdamW); every
//! other layout and dtype goes through tensor ops with the same formula.

mod adagrad;
mod adam;
mod clip;
mod rmsprop;
pub mod scheduler;
mod sgd;
mod state;

pub use adagrad::{Adagrad, AdagradOptions, AdagradRule, AdagradState};
pub use adam::{Adam, AdamOptions, AdamRule, AdamState, AdamW, AdamWOptions, AdamWRule};
pub use clip::{clip_grad_norm_, clip_grad_value_, try_clip_grad_norm_};
pub use rmsprop::{RmsProp, RmsPropOptions, RmsPropRule, RmsPropState};
pub use scheduler::{
    Anneal, CosineAnnealingLR, ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR, OneCycleOptions,
    SequentialLR, StepLR,
};
pub use sgd::{Sgd, SgdOptions, SgdRule, SgdState};
pub use state::{OptimizerState, ParamState, StateReader, StateWriter};

use crate::error::Result;
use crate::tensor::Tensor;
use ignis_ir::DType;
use ignis_runtime::Storage;
use state::{KIND_KEY, keys_under, optimizer_error, parse_indices};
use std::sync::Arc;

/// What training loops and schedulers use, whatever the algorithm.
pub trait Optimizer {
    /// Updates every parameter that has a gradient; parameters without one are skipped.
    fn step(&mut self);

    /// Sets every parameter's gradient to `None` (PyTorch's default `set_to_none=True`).
    fn zero_grad(&self) {
        for group in 0..self.num_groups() {
            for param in self.params(group) {
                param.set_grad(None);
            }
        }
    }

    fn num_groups(&self) -> usize;

    /// The parameters of one group.
    fn params(&self, group: usize) -> &[Tensor];

    /// The learning rate of one group.
    fn lr(&self, group: usize) -> f64;

    fn set_lr(&mut self, group: usize, lr: f64);

    /// The group's learning rate before any scheduler changed it (PyTorch's
    /// `initial_lr`); set by the first scheduler built on this optimizer.
    fn initial_lr(&self, group: usize) -> Option<f64>;

    fn set_initial_lr(&mut self, group: usize, lr: f64);

    /// The group's momentum for schedules that cycle it: SGD's and RMSprop's `momentum`,
    /// Adam's `beta1`; `None` for optimizers that have neither.
    fn momentum(&self, group: usize) -> Option<f64>;

    /// Sets what `momentum` reads; ignored by optimizers without a momentum.
    fn set_momentum(&mut self, group: usize, momentum: f64);

    /// Per-parameter state and each group's hyper-parameters.
    fn state_dict(&self) -> OptimizerState;

    /// Restores what `state_dict` saved, for the same parameters in the same groups.
    /// Nothing changes unless the whole state is valid.
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()>;
}

/// A group's hyper-parameters: what one `ParamGroup` overrides of an optimizer's defaults.
pub trait GroupOptions: Clone + std::fmt::Debug {
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    /// See `Optimizer::momentum`.
    fn cycled_momentum(&self) -> Option<f64> {
        None
    }
    fn set_cycled_momentum(&mut self, _momentum: f64) {}
    /// Why the options are invalid, if they are (PyTorch's constructor checks).
    fn check(&self) -> std::result::Result<(), String>;
    fn save(&self, out: &mut StateWriter);
    fn load(input: &StateReader) -> Result<Self>;
}

/// One optimization algorithm: its options, its per-parameter state and its update.
pub trait UpdateRule {
    /// The name used in messages and saved state.
    const NAME: &'static str;
    type Options: GroupOptions;
    type State: ParamState;
    /// Updates `param` in place from `grad`; runs under `no_grad`. `state` is `None`
    /// before the parameter's first update.
    fn update(options: &Self::Options, param: &Tensor, grad: &Tensor, state: &mut Option<Self::State>);
}

/// Parameters that share hyper-parameters.
#[derive(Clone, Debug)]
pub struct ParamGroup<O> {
    pub params: Vec<Tensor>,
    pub options: O,
    initial_lr: Option<f64>,
}

impl<O> ParamGroup<O> {
    pub fn new(params: Vec<Tensor>, options: O) -> Self {
        ParamGroup { params, options, initial_lr: None }
    }

    /// See `Optimizer::initial_lr`.
    pub fn initial_lr(&self) -> Option<f64> {
        self.initial_lr
    }
}

/// An optimizer made of parameter groups, per-parameter state and an `UpdateRule`.
/// `Sgd`, `Adam`, `AdamW`, `RmsProp` and `Adagrad` are this type for their rules.
pub struct GenericOptimizer<R: UpdateRule> {
    groups: Vec<ParamGroup<R::Options>>,
    /// Parallel to each group's `params`; `None` until the parameter's first update.
    state: Vec<Vec<Option<R::State>>>,
}

impl<R: UpdateRule> GenericOptimizer<R> {
    /// One group of `params` with `options`.
    pub fn new(params: Vec<Tensor>, options: R::Options) -> Self {
        Self::with_groups(vec![ParamGroup::new(params, options)])
    }

    /// Several groups, each with its own options.
    ///
    /// Panics when there are no parameters, when a parameter is not a leaf or appears
    /// twice, or when options are out of range (as PyTorch's constructors raise).
    pub fn with_groups(groups: Vec<ParamGroup<R::Options>>) -> Self {
        let mut optimizer = GenericOptimizer { groups: Vec::new(), state: Vec::new() };
        for group in groups {
            optimizer.add_param_group(group);
        }
        assert!(optimizer.groups.iter().any(|g| !g.params.is_empty()), "{}: got an empty parameter list", R::NAME);
        optimizer
    }

    /// Adds a group (e.g. layers unfrozen during fine-tuning).
    pub fn add_param_group(&mut self, group: ParamGroup<R::Options>) {
        if let Err(why) = group.options.check() {
            panic!("{}: invalid options for group {}: {why}", R::NAME, self.groups.len());
        }
        for (i, param) in group.params.iter().enumerate() {
            assert!(param.is_leaf(), "{}: can't optimize a non-leaf tensor ({})", R::NAME, param.describe());
            let earlier = self.groups.iter().flat_map(|g| &g.params).chain(&group.params[..i]);
            for other in earlier {
                assert!(
                    !Arc::ptr_eq(&param.0, &other.0),
                    "{}: a parameter ({}) appears more than once",
                    R::NAME,
                    param.describe()
                );
            }
        }
        self.state.push(group.params.iter().map(|_| None).collect());
        self.groups.push(group);
    }

    pub fn param_groups(&self) -> &[ParamGroup<R::Options>] {
        &self.groups
    }

    /// A group's options, to change hyper-parameters between steps.
    pub fn options_mut(&mut self, group: usize) -> &mut R::Options {
        &mut self.groups[group].options
    }

    /// The state of parameter `index` of `group`, `None` before its first update.
    pub fn param_state(&self, group: usize, index: usize) -> Option<&R::State> {
        self.state[group][index].as_ref()
    }
}

impl<R: UpdateRule> Optimizer for GenericOptimizer<R> {
    fn step(&mut self) {
        let _no_grad = crate::NoGradGuard::new();
        // Learning rates and step counts live on the host: a compiled training step reads
        // them anew on every call.
        crate::compile::trace::note_host_state();
        for (group, states) in self.groups.iter().zip(&mut self.state) {
            for (param, state) in group.params.iter().zip(states) {
                if let Some(grad) = param.grad() {
                    R::update(&group.options, param, &grad, state);
                }
            }
        }
    }

    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn params(&self, group: usize) -> &[Tensor] {
        &self.groups[group].params
    }

    fn lr(&self, group: usize) -> f64 {
        self.groups[group].options.learning_rate()
    }

    fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].options.set_learning_rate(lr);
    }

    fn initial_lr(&self, group: usize) -> Option<f64> {
        self.groups[group].initial_lr
    }

    fn set_initial_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].initial_lr = Some(lr);
    }

    fn momentum(&self, group: usize) -> Option<f64> {
        self.groups[group].options.cycled_momentum()
    }

    fn set_momentum(&mut self, group: usize, momentum: f64) {
        self.groups[group].options.set_cycled_momentum(momentum);
    }

    fn state_dict(&self) -> OptimizerState {
        let mut out = OptimizerState::default();
        out.metadata.insert(KIND_KEY.into(), R::NAME.into());
        let mut index = 0;
        for (g, (group, states)) in self.groups.iter().zip(&self.state).enumerate() {
            let indices: Vec<String> = (index..index + group.params.len()).map(|i| i.to_string()).collect();
            let mut writer = StateWriter::new(&mut out, format!("param_groups.{g}"));
            writer.value("params", indices.join(","));
            if let Some(lr) = group.initial_lr {
                writer.value("initial_lr", lr);
            }
            group.options.save(&mut writer);
            for state in states {
                if let Some(state) = state {
                    state.save(&mut StateWriter::new(&mut out, format!("state.{index}")));
                }
                index += 1;
            }
        }
        out
    }

    fn load_state_dict(&mut self, input: &OptimizerState) -> Result<()> {
        match input.metadata.get(KIND_KEY) {
            Some(kind) if kind == R::NAME => {}
            Some(kind) => {
                return Err(optimizer_error(format!("the state is for {kind}, this optimizer is {}", R::NAME)));
            }
            None => return Err(optimizer_error(format!("missing key {KIND_KEY}"))),
        }
        let saved_groups =
            (0..).take_while(|g| input.metadata.contains_key(&format!("param_groups.{g}.params"))).count();
        if saved_groups != self.groups.len() {
            return Err(optimizer_error(format!(
                "the state has {saved_groups} parameter groups, the optimizer {}",
                self.groups.len()
            )));
        }
        // Build the new groups and state aside, so a failure leaves `self` untouched.
        let mut groups = Vec::with_capacity(self.groups.len());
        let mut states = Vec::with_capacity(self.groups.len());
        let mut index = 0;
        for (g, group) in self.groups.iter().enumerate() {
            let reader = StateReader::new(input, format!("param_groups.{g}"));
            let key = format!("param_groups.{g}.params");
            let saved = parse_indices(&key, &input.metadata[&key])?;
            let expected: Vec<usize> = (index..index + group.params.len()).collect();
            if saved != expected {
                return Err(optimizer_error(format!(
                    "group {g} has {} parameters (indices {}), the state lists {}",
                    group.params.len(),
                    describe_indices(&expected),
                    describe_indices(&saved)
                )));
            }
            let options = R::Options::load(&reader)?;
            if let Err(why) = options.check() {
                return Err(optimizer_error(format!("param_groups.{g}: {why}")));
            }
            let initial_lr = reader.optional_value("initial_lr")?;
            let mut group_state = Vec::with_capacity(group.params.len());
            for param in &group.params {
                let prefix = format!("state.{index}.");
                let present = keys_under(input, &prefix).next().is_some();
                let reader = StateReader::new(input, format!("state.{index}"));
                group_state.push(if present { Some(R::State::load(&reader, param)?) } else { None });
                index += 1;
            }
            groups.push(ParamGroup { params: group.params.clone(), options, initial_lr });
            states.push(group_state);
        }
        let loaded = GenericOptimizer::<R> { groups, state: states };
        // Every saved key must have been understood: what the loaded optimizer saves again.
        let again = loaded.state_dict();
        let known = |k: &String| again.metadata.contains_key(k) || again.tensors.contains_key(k);
        if let Some(key) = keys_under(input, "").find(|k| !known(k)) {
            return Err(optimizer_error(format!("unexpected key {key} (the optimizer has {index} parameters)")));
        }
        *self = loaded;
        Ok(())
    }
}

fn describe_indices(indices: &[usize]) -> String {
    match (indices.first(), indices.last()) {
        (Some(first), Some(last))
            if last - first + 1 == indices.len() && indices.windows(2).all(|w| w[1] == w[0] + 1) =>
        {
            format!("{first}..={last}")
        }
        (None, _) => "none".into(),
        _ => format!("{indices:?}"),
    }
}

// ---- helpers shared by the update rules ----

/// The gradient as the update sees it: negated when maximizing, plus `weight_decay *
/// param` (L2 regularization) when the decay is nonzero.
fn decayed_grad(param: &Tensor, grad: &Tensor, weight_decay: f64, maximize: bool) -> Tensor {
    let grad = if maximize { grad.neg() } else { grad.clone() };
    if weight_decay != 0.0 { grad.add(&param.mul_scalar(weight_decay)) } else { grad }
}

/// `param += alpha * x`; traced, `alpha` is a host value of the program (see
/// `compile::trace::host_scalar`), so a changing learning rate keeps one program.
fn add_scaled_host_(param: &Tensor, x: &Tensor, alpha: f64) {
    match crate::compile::trace::host_scalar(alpha, x.dtype()) {
        Some(alpha) => param.add_(&x.mul(&alpha)),
        None => param.add_scaled_(x, alpha),
    };
}

/// `x / divisor`, the divisor a host value when traced.
fn div_host(x: &Tensor, divisor: f64) -> Tensor {
    match crate::compile::trace::host_scalar(divisor, x.dtype()) {
        Some(d) => x.div(&d),
        None => x.div_scalar(divisor),
    }
}

/// `param *= factor` in place, the factor a host value when traced.
fn mul_host_(param: &Tensor, factor: f64) {
    match crate::compile::trace::host_scalar(factor, param.dtype()) {
        Some(f) => param.mul_(&f),
        None => param.mul_scalar_(factor),
    };
}

/// `start += weight * (end - start)` in place, in PyTorch's two-sided form (exact at
/// `weight = 1`).
fn lerp_(start: &Tensor, end: &Tensor, weight: f64) {
    if weight.abs() < 0.5 {
        start.add_scaled_(&end.sub(start), weight);
    } else {
        start.copy_(&end.sub(&end.sub(start).mul_scalar(1.0 - weight)));
    }
}

/// A state buffer for `param` filled with `value`: always a buffer, even inside a compiled
/// function (a traced constant would be a value, and updating it in place a graph break).
fn state_filled(param: &Tensor, value: f64) -> Tensor {
    let t = Tensor::from_storage(Storage::uninit(param.dtype(), param.numel()), param.shape());
    ignis_runtime::cpu::fill_view(t.kernel_view(), ignis_ir::Scalar::Float(value));
    t.placed_like(param)
}

/// A state buffer for `param` (on its device) that the caller fully writes before reading.
fn uninit_like(param: &Tensor) -> Tensor {
    let storage = Storage::uninit_on(param.device(), param.dtype(), param.numel())
        .unwrap_or_else(|e| panic!("optimizer state on {}: {e}", param.device()));
    Tensor::from_storage(storage, param.shape())
}

/// Whether a parameter, its gradient and its state can take a fused f32 kernel: all
/// contiguous f32, and the gradient in none of the storages the kernel writes. (State
/// buffers are the optimizer's own fresh tensors of the parameter's dtype and layout, so
/// they never share the parameter's storage.)
fn fusable(param: &Tensor, grad: &Tensor, state: &[&Tensor]) -> bool {
    let f32_contiguous = |t: &Tensor| t.dtype() == DType::F32 && t.is_contiguous();
    // Traced, the update is recorded from tensor ops so that it joins the program; on a
    // GPU too, where the ops are kernels (the fused kernels work on host memory).
    !crate::compile::is_tracing()
        && param.device() == ignis_runtime::Device::Cpu
        && f32_contiguous(param)
        && f32_contiguous(grad)
        && !param.shares_storage(grad)
        && state.iter().all(|s| f32_contiguous(s) && !s.shares_storage(grad))
}

/// The elements of a contiguous f32 tensor.
fn f32_elements(t: &Tensor) -> &[f32] {
    t.kernel_view().contiguous_slice::<f32>().expect("fused update: a contiguous f32 tensor")
}

/// The elements of a contiguous f32 tensor, to be written in place; the write bumps the
/// storage's version as every in-place op does.
///
/// # Safety
/// While the slice lives, no other slice of the same elements may be used.
#[allow(clippy::mut_from_ref)]
unsafe fn f32_elements_mut(t: &Tensor) -> &mut [f32] {
    assert!(t.dtype() == DType::F32 && t.is_contiguous(), "fused update: expected a contiguous f32 tensor");
    t.storage().bump_version();
    if t.numel() == 0 {
        return &mut [];
    }
    // SAFETY: a contiguous layout covers `offset..offset + numel` of its storage (Layout
    // invariant); exclusivity is the caller's promise.
    unsafe { std::slice::from_raw_parts_mut(t.storage().as_ptr::<f32>().add(t.storage_offset()), t.numel()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lists_print_as_ranges_when_consecutive() {
        assert_eq!(describe_indices(&[2, 3, 4]), "2..=4");
        assert_eq!(describe_indices(&[]), "none");
        assert_eq!(describe_indices(&[0, 2]), "[0, 2]");
    }

    #[test]
    fn tensor_lerp_takes_pytorchs_two_forms() {
        let start = Tensor::from_vec(vec![3.0f32, 3.0], [2]);
        let end = Tensor::from_vec(vec![7.0f32, 7.0], [2]);
        crate::no_grad(|| lerp_(&start, &end, 0.25));
        assert_eq!(start.to_vec::<f32>(), vec![4.0, 4.0]);
        crate::no_grad(|| lerp_(&start, &end, 1.0));
        assert_eq!(start.to_vec::<f32>(), vec![7.0, 7.0]);
        // Bit for bit what the fused kernels compute.
        let (a, b) = (0.123_456_79f32, -9.876_543f32);
        for w in [0.1, 0.3, 0.5, 0.8] {
            let t = Tensor::from_vec(vec![a], [1]);
            crate::no_grad(|| lerp_(&t, &Tensor::from_vec(vec![b], [1]), w));
            assert_eq!(t.item::<f32>(), ignis_runtime::cpu::optim::lerp(a, b, w as f32), "weight {w}");
        }
    }

    #[test]
    fn fusable_wants_contiguous_f32_apart_from_the_gradient() {
        let p = Tensor::zeros([2, 3], DType::F32);
        let g = Tensor::ones([2, 3], DType::F32);
        let buffer = Tensor::zeros([2, 3], DType::F32);
        assert!(fusable(&p, &g, &[&buffer]));
        assert!(!fusable(&p, &p.detach(), &[]));
        assert!(!fusable(&p, &buffer, &[&buffer]));
        assert!(!fusable(&p.t(), &g.t(), &[]));
        assert!(!fusable(&p.to_dtype(DType::F64), &g.to_dtype(DType::F64), &[]));
    }
}
