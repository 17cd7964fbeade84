//! Parameter initialisation, in place and without recording gradients, with the formulas
//! and defaults of `torch.nn.init`.

use crate::tensor::Tensor;
use ignis_ir::DType;

/// The non-linearity that follows a layer, for `calculate_gain`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Nonlinearity {
    Linear,
    Conv,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu(f64),
    Selu,
}

/// Whether a variance-preserving init scales by the fan-in (forward pass) or fan-out
/// (backward pass).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
}

/// The recommended gain for a non-linearity, as PyTorch defines it.
pub fn calculate_gain(nonlinearity: Nonlinearity) -> f64 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Conv | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

/// `(fan_in, fan_out)` of a weight laid out as `[out, in, *kernel]`.
pub fn fan_in_and_fan_out(tensor: &Tensor) -> (usize, usize) {
    assert!(
        tensor.rank() >= 2,
        "init: fan in and fan out need a tensor with at least 2 dims, got {}",
        tensor.describe()
    );
    let receptive: usize = tensor.shape()[2..].iter().product();
    (tensor.shape()[1] * receptive, tensor.shape()[0] * receptive)
}

fn overwrite(tensor: &Tensor, values: Tensor) {
    crate::no_grad(|| {
        tensor.copy_(&values);
    });
}

fn check_float(op: &str, tensor: &Tensor) {
    assert!(tensor.dtype().is_float(), "{op}: expected a floating point tensor, got {}", tensor.describe());
}

/// Fills with values drawn uniformly from `[low, high)`.
pub fn uniform_(tensor: &Tensor, low: f64, high: f64) {
    check_float("uniform_", tensor);
    assert!(low <= high, "uniform_: low ({low}) must not exceed high ({high})");
    let r = Tensor::rand(tensor.shape(), DType::F32).mul_scalar(high - low).add_scalar(low);
    overwrite(tensor, r);
}

/// Fills with values drawn from a normal distribution.
pub fn normal_(tensor: &Tensor, mean: f64, std: f64) {
    check_float("normal_", tensor);
    let r = Tensor::randn(tensor.shape(), DType::F32).mul_scalar(std).add_scalar(mean);
    overwrite(tensor, r);
}

/// Normal values redrawn until they lie in `[low, high]`, as `trunc_normal_`.
pub fn trunc_normal_(tensor: &Tensor, mean: f64, std: f64, low: f64, high: f64) {
    check_float("trunc_normal_", tensor);
    assert!(low < high, "trunc_normal_: low ({low}) must be below high ({high})");
    let n = tensor.numel();
    let mut kept: Vec<f32> = Vec::with_capacity(n);
    // Rejection sampling; each round keeps the in-range draws. A band that holds almost no
    // mass would spin, so the bounds must hold a sensible share of the distribution.
    let mut rounds = 0;
    while kept.len() < n {
        rounds += 1;
        assert!(rounds < 1000, "trunc_normal_: [{low}, {high}] holds too little of N({mean}, {std}^2)");
        let draw = Tensor::randn([n.max(16)], DType::F64).to_vec::<f64>();
        kept.extend(draw.iter().map(|z| mean + std * z).filter(|v| (low..=high).contains(v)).map(|v| v as f32));
    }
    kept.truncate(n);
    overwrite(tensor, Tensor::from_vec(kept, tensor.shape()));
}

/// Fills with one value.
pub fn constant_(tensor: &Tensor, value: f64) {
    crate::no_grad(|| {
        tensor.fill_(value);
    });
}

pub fn zeros_(tensor: &Tensor) {
    constant_(tensor, 0.0);
}

pub fn ones_(tensor: &Tensor) {
    constant_(tensor, 1.0);
}

/// Xavier/Glorot uniform: bound `gain * sqrt(6 / (fan_in + fan_out))`.
pub fn xavier_uniform_(tensor: &Tensor, gain: f64) {
    let (fan_in, fan_out) = fan_in_and_fan_out(tensor);
    let bound = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
    uniform_(tensor, -bound, bound);
}

/// Xavier/Glorot normal: std `gain * sqrt(2 / (fan_in + fan_out))`.
pub fn xavier_normal_(tensor: &Tensor, gain: f64) {
    let (fan_in, fan_out) = fan_in_and_fan_out(tensor);
    normal_(tensor, 0.0, gain * (2.0 / (fan_in + fan_out) as f64).sqrt());
}

fn kaiming_std(tensor: &Tensor, mode: FanMode, nonlinearity: Nonlinearity) -> f64 {
    let (fan_in, fan_out) = fan_in_and_fan_out(tensor);
    let fan = match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    };
    assert!(fan > 0, "kaiming init: {} has a zero fan", tensor.describe());
    calculate_gain(nonlinearity) / (fan as f64).sqrt()
}

/// Kaiming/He uniform: bound `gain * sqrt(3 / fan)`.
pub fn kaiming_uniform_(tensor: &Tensor, mode: FanMode, nonlinearity: Nonlinearity) {
    let bound = 3f64.sqrt() * kaiming_std(tensor, mode, nonlinearity);
    uniform_(tensor, -bound, bound);
}

/// Kaiming/He normal: std `gain / sqrt(fan)`.
pub fn kaiming_normal_(tensor: &Tensor, mode: FanMode, nonlinearity: Nonlinearity) {
    normal_(tensor, 0.0, kaiming_std(tensor, mode, nonlinearity));
}

/// PyTorch's default for Linear and Conv weights: Kaiming uniform with `a = sqrt(5)`, which
/// works out to a bound of `1 / sqrt(fan_in)`.
pub(crate) fn default_weight_(weight: &Tensor) {
    kaiming_uniform_(weight, FanMode::FanIn, Nonlinearity::LeakyRelu(5f64.sqrt()));
}

/// PyTorch's default for Linear and Conv biases: uniform in `±1 / sqrt(fan_in)`.
pub(crate) fn default_bias_(bias: &Tensor, fan_in: usize) {
    let bound = if fan_in > 0 { 1.0 / (fan_in as f64).sqrt() } else { 0.0 };
    uniform_(bias, -bound, bound);
}

/// A new parameter: a leaf that requires grad, zero-filled until initialised.
pub(crate) fn parameter(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32).requires_grad_(true)
}
