//! Loss functions as values that carry their options, like `torch.nn`'s loss modules.
//! Each calls the tensor method of the same name (`ops/loss.rs`).

use crate::ops::{CrossEntropyOptions, Reduction};
use crate::tensor::Tensor;

macro_rules! reduction_loss {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name {
            pub reduction: Reduction,
        }

        impl $name {
            pub fn new() -> Self {
                Self::default()
            }
            pub fn with_reduction(reduction: Reduction) -> Self {
                Self { reduction }
            }
            pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
                input.$method(target, self.reduction)
            }
        }
    };
}

reduction_loss!(
    /// Squared error.
    MSELoss,
    mse_loss
);
reduction_loss!(
    /// Absolute error.
    L1Loss,
    l1_loss
);
reduction_loss!(
    /// Binary cross entropy of probabilities.
    BCELoss,
    binary_cross_entropy
);
reduction_loss!(
    /// Binary cross entropy of logits, computed stably.
    BCEWithLogitsLoss,
    binary_cross_entropy_with_logits
);

/// Squared error below `beta`, absolute error above (PyTorch's default `beta = 1`).
#[derive(Clone, Copy, Debug)]
pub struct SmoothL1Loss {
    pub reduction: Reduction,
    pub beta: f64,
}

impl Default for SmoothL1Loss {
    fn default() -> Self {
        SmoothL1Loss { reduction: Reduction::Mean, beta: 1.0 }
    }
}

impl SmoothL1Loss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        input.smooth_l1_loss(target, self.reduction, self.beta)
    }
}

/// Cross entropy of logits against class indices or class probabilities, with
/// `ignore_index` and `label_smoothing`.
#[derive(Clone, Debug, Default)]
pub struct CrossEntropyLoss {
    pub options: CrossEntropyOptions,
}

impl CrossEntropyLoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_options(options: CrossEntropyOptions) -> Self {
        CrossEntropyLoss { options }
    }
    pub fn forward(&self, logits: &Tensor, target: &Tensor) -> Tensor {
        logits.cross_entropy(target, &self.options)
    }
}

/// Negative log-likelihood of log-probabilities at class indices.
#[derive(Clone, Copy, Debug, Default)]
pub struct NLLLoss {
    pub ignore_index: Option<i64>,
    pub reduction: Reduction,
}

impl NLLLoss {
    pub fn forward(&self, log_probs: &Tensor, target: &Tensor) -> Tensor {
        log_probs.nll_loss(target, self.ignore_index, self.reduction)
    }
}

/// KL divergence of log-probabilities `input` from `target`. PyTorch's default reduction
/// is the element mean; `Reduction::BatchMean` gives the true KL divergence per sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct KLDivLoss {
    pub reduction: Reduction,
    pub log_target: bool,
}

impl KLDivLoss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        input.kl_div(target, self.reduction, self.log_target)
    }
}
