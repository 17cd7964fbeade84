//! Normalisation layers. Batch norm keeps running statistics as buffers, updated in place
//! in training mode and used in evaluation mode.

use super::init;
use super::module::{Entry, Module};
use crate::tensor::Tensor;
use ignis_ir::DType;

/// Layer normalisation over the trailing `normalized_shape` dims.
pub struct LayerNorm {
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
}

impl LayerNorm {
    /// eps 1e-5, weight one and bias zero, as PyTorch.
    pub fn new(normalized_shape: &[usize]) -> LayerNorm {
        Self::with_options(normalized_shape, 1e-5, true, true)
    }

    pub fn with_options(normalized_shape: &[usize], eps: f64, elementwise_affine: bool, bias: bool) -> LayerNorm {
        let weight = elementwise_affine.then(|| Tensor::ones(normalized_shape, DType::F32).requires_grad_(true));
        let bias = (elementwise_affine && bias).then(|| init::parameter(normalized_shape));
        LayerNorm { normalized_shape: normalized_shape.to_vec(), eps, weight, bias }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(&self.normalized_shape, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit_affine(&self.weight, &self.bias, visit);
    }
}

/// Root-mean-square normalisation over the trailing `normalized_shape` dims.
pub struct RMSNorm {
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
    pub weight: Option<Tensor>,
}

impl RMSNorm {
    /// `eps` defaults (as in PyTorch) to the machine epsilon of f32.
    pub fn new(normalized_shape: &[usize]) -> RMSNorm {
        Self::with_options(normalized_shape, f32::EPSILON as f64, true)
    }

    pub fn with_options(normalized_shape: &[usize], eps: f64, elementwise_affine: bool) -> RMSNorm {
        let weight = elementwise_affine.then(|| Tensor::ones(normalized_shape, DType::F32).requires_grad_(true));
        RMSNorm { normalized_shape: normalized_shape.to_vec(), eps, weight }
    }
}

impl Module for RMSNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.rms_norm(&self.normalized_shape, self.weight.as_ref(), self.eps)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        if let Some(w) = &self.weight {
            visit("weight", Entry::Parameter(w));
        }
    }
}

/// Group normalisation: channels split into groups, each normalised over its channels and
/// spatial positions, then a per-channel affine map.
pub struct GroupNorm {
    pub num_groups: usize,
    pub num_channels: usize,
    pub eps: f64,
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
}

impl GroupNorm {
    pub fn new(num_groups: usize, num_channels: usize) -> GroupNorm {
        Self::with_options(num_groups, num_channels, 1e-5, true)
    }

    pub fn with_options(num_groups: usize, num_channels: usize, eps: f64, affine: bool) -> GroupNorm {
        assert!(
            num_groups > 0 && num_channels.is_multiple_of(num_groups),
            "GroupNorm: {num_channels} channels cannot be split into {num_groups} groups"
        );
        let weight = affine.then(|| Tensor::ones([num_channels], DType::F32).requires_grad_(true));
        let bias = affine.then(|| init::parameter(&[num_channels]));
        GroupNorm { num_groups, num_channels, eps, weight, bias }
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            x.rank() >= 2 && x.shape()[1] == self.num_channels,
            "GroupNorm: expected [N, {}, ...], got {}",
            self.num_channels,
            x.describe()
        );
        let n = x.shape()[0];
        let grouped = x.reshape([n, self.num_groups, x.numel() / (n * self.num_groups).max(1)]);
        let mean = grouped.mean_dims(&[-1], true);
        let var = grouped.var_dims(&[-1], 0, true);
        let normalized = grouped.sub(&mean).mul(&var.add_scalar(self.eps).rsqrt()).reshape(x.shape());
        affine_per_channel(normalized, self.weight.as_ref(), self.bias.as_ref())
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit_affine(&self.weight, &self.bias, visit);
    }
}

/// Reports an optional affine weight and bias under their PyTorch names.
fn visit_affine<'a>(weight: &'a Option<Tensor>, bias: &'a Option<Tensor>, visit: &mut dyn FnMut(&str, Entry<'a>)) {
    if let Some(w) = weight {
        visit("weight", Entry::Parameter(w));
    }
    if let Some(b) = bias {
        visit("bias", Entry::Parameter(b));
    }
}

/// `x * weight + bias` with the vectors laid along dim 1 of `x`.
fn affine_per_channel(x: Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>) -> Tensor {
    let mut shape = vec![1usize; x.rank()];
    shape[1] = x.shape()[1];
    let x = match weight {
        Some(w) => x.mul(&w.reshape(shape.as_slice())),
        None => x,
    };
    match bias {
        Some(b) => x.add(&b.reshape(shape.as_slice())),
        None => x,
    }
}

/// Batch normalisation over dim 1 (`[N, C]` or `[N, C, L]` for 1-d, `[N, C, H, W]` for 2-d).
///
/// In training mode it normalises with the batch's statistics and folds them into the
/// running mean and (unbiased) variance with `momentum`; in evaluation mode it uses the
/// running statistics.
pub struct BatchNorm {
    pub num_features: usize,
    pub eps: f64,
    /// Weight of the new batch in the running averages; `None` means a cumulative average.
    pub momentum: Option<f64>,
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
    pub running_mean: Option<Tensor>,
    pub running_var: Option<Tensor>,
    pub num_batches_tracked: Option<Tensor>,
    /// The input ranks this layer accepts: 2 or 3 for BatchNorm1d, 4 for BatchNorm2d.
    ranks: &'static [usize],
    training: super::module::ModeFlag,
}

impl BatchNorm {
    pub fn with_options(
        num_features: usize,
        ranks: &'static [usize],
        eps: f64,
        momentum: Option<f64>,
        affine: bool,
        track_running_stats: bool,
    ) -> BatchNorm {
        let weight = affine.then(|| Tensor::ones([num_features], DType::F32).requires_grad_(true));
        let bias = affine.then(|| init::parameter(&[num_features]));
        BatchNorm {
            num_features,
            eps,
            momentum,
            weight,
            bias,
            running_mean: track_running_stats.then(|| Tensor::zeros([num_features], DType::F32)),
            running_var: track_running_stats.then(|| Tensor::ones([num_features], DType::F32)),
            num_batches_tracked: track_running_stats.then(|| Tensor::zeros([], DType::I64)),
            ranks,
            training: super::module::ModeFlag::new(true),
        }
    }

    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    /// Folds a batch's statistics into the running buffers.
    fn update_running_stats(&self, mean: &Tensor, var: &Tensor, count: usize) {
        let (Some(running_mean), Some(running_var), Some(tracked)) =
            (&self.running_mean, &self.running_var, &self.num_batches_tracked)
        else {
            return;
        };
        crate::no_grad(|| {
            tracked.add_scalar_(1);
            let momentum = match self.momentum {
                Some(m) => m,
                None => 1.0 / tracked.item_f64(),
            };
            let unbiased = var.mul_scalar(count as f64 / (count.max(2) - 1) as f64);
            running_mean.mul_scalar_(1.0 - momentum).add_scaled_(&mean.detach(), momentum);
            running_var.mul_scalar_(1.0 - momentum).add_scaled_(&unbiased.detach(), momentum);
        });
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            self.ranks.contains(&x.rank()) && x.shape()[1] == self.num_features,
            "BatchNorm: expected an input of rank {:?} with {} channels in dim 1, got {}",
            self.ranks,
            self.num_features,
            x.describe()
        );
        let axes: Vec<isize> = (0..x.rank() as isize).filter(|&a| a != 1).collect();
        let mut stat_shape = vec![1usize; x.rank()];
        stat_shape[1] = self.num_features;
        let use_batch_stats = self.is_training() || self.running_mean.is_none();
        let (mean, var) = if use_batch_stats {
            let count = x.numel() / self.num_features;
            assert!(
                !self.is_training() || count > 1,
                "BatchNorm: training needs more than one value per channel, got {}",
                x.describe()
            );
            let mean = x.mean_dims(&axes, true);
            let var = x.var_dims(&axes, 0, true);
            if self.is_training() {
                self.update_running_stats(&mean.reshape([self.num_features]), &var.reshape([self.num_features]), count);
            }
            (mean, var)
        } else {
            let mean = self.running_mean.as_ref().expect("checked above").reshape(stat_shape.as_slice());
            let var = self.running_var.as_ref().expect("tracked with the mean").reshape(stat_shape.as_slice());
            (mean, var)
        };
        let normalized = x.sub(&mean).mul(&var.add_scalar(self.eps).rsqrt());
        affine_per_channel(normalized, self.weight.as_ref(), self.bias.as_ref())
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit_affine(&self.weight, &self.bias, visit);
        if let Some(t) = &self.running_mean {
            visit("running_mean", Entry::Buffer(t));
        }
        if let Some(t) = &self.running_var {
            visit("running_var", Entry::Buffer(t));
        }
        if let Some(t) = &self.num_batches_tracked {
            visit("num_batches_tracked", Entry::Buffer(t));
        }
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}

macro_rules! batch_norm_for_rank {
    ($(#[$doc:meta])* $name:ident, $ranks:expr) => {
        $(#[$doc])*
        pub struct $name(pub BatchNorm);

        impl $name {
            /// eps 1e-5, momentum 0.1, affine, tracking running statistics.
            pub fn new(num_features: usize) -> $name {
                Self::with_options(num_features, 1e-5, Some(0.1), true, true)
            }

            pub fn with_options(
                num_features: usize,
                eps: f64,
                momentum: Option<f64>,
                affine: bool,
                track_running_stats: bool,
            ) -> $name {
                $name(BatchNorm::with_options(num_features, $ranks, eps, momentum, affine, track_running_stats))
            }
        }

        impl std::ops::Deref for $name {
            type Target = BatchNorm;
            fn deref(&self) -> &BatchNorm {
                &self.0
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Tensor {
                self.0.forward(x)
            }
            fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
                self.0.visit(visit)
            }
            fn set_training(&self, training: bool) {
                self.0.set_training(training)
            }
        }
    };
}

batch_norm_for_rank!(
    /// Batch norm for `[N, C]` or `[N, C, L]` inputs.
    BatchNorm1d,
    &[2, 3]
);
batch_norm_for_rank!(
    /// Batch norm for `[N, C, H, W]` inputs.
    BatchNorm2d,
    &[4]
);
