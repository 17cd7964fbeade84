//! Loss functions, composed from differentiable ops (so their gradients need no rules).

use crate::tensor::Tensor;
use ignis_ir::DType;

/// How per-element losses are combined.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    #[default]
    Mean,
    Sum,
    None,
    /// The sum divided by the size of dim 0: the mathematically correct mean of
    /// `kl_div` over a batch.
    BatchMean,
}

fn reduce(loss: Tensor, reduction: Reduction) -> Tensor {
    match reduction {
        Reduction::Mean => loss.mean_all(),
        Reduction::Sum => loss.sum_all(),
        Reduction::None => loss,
        Reduction::BatchMean => {
            let batch = if loss.rank() == 0 { 1 } else { loss.shape()[0] };
            loss.sum_all().div_scalar(batch as f64)
        }
    }
}

/// Options of `cross_entropy`, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CrossEntropyOptions {
    pub ignore_index: Option<i64>,
    pub label_smoothing: f64,
    pub reduction: Reduction,
}

impl Tensor {
    /// Mean (or sum) squared error.
    pub fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        assert_eq!(
            self.shape(),
            target.shape(),
            "mse_loss: input {} and target {} must have the same shape",
            self.describe(),
            target.describe()
        );
        reduce(self.sub(target).square(), reduction)
    }

    /// Cross entropy of logits `[N, C, ...]` against class indices `[N, ...]` (i64/i32)
    /// or class probabilities of the logits' shape.
    pub fn cross_entropy(&self, target: &Tensor, options: &CrossEntropyOptions) -> Tensor {
        assert!(self.rank() >= 1, "cross_entropy: logits need a class dim, got {}", self.describe());
        let class_dim = if self.rank() == 1 { 0 } else { 1 };
        let classes = self.shape()[class_dim];
        let log_probs = self.log_softmax(class_dim as isize);
        let eps = options.label_smoothing;
        assert!((0.0..=1.0).contains(&eps), "cross_entropy: label_smoothing must be in [0, 1], got {eps}");
        if target.dtype().is_float() {
            assert_eq!(
                target.shape(),
                self.shape(),
                "cross_entropy: probability targets {} must match the logits {}",
                target.describe(),
                self.describe()
            );
            let smoothed =
                if eps > 0.0 { target.mul_scalar(1.0 - eps).add_scalar(eps / classes as f64) } else { target.clone() };
            let loss = smoothed.mul(&log_probs).sum(class_dim as isize, false).neg();
            return reduce(loss, options.reduction);
        }
        let mut expected: Vec<usize> = self.shape().to_vec();
        expected.remove(class_dim);
        assert!(
            target.shape() == expected.as_slice(),
            "cross_entropy: targets {} do not fit logits {} (expected targets of shape {})",
            target.describe(),
            self.describe(),
            ignis_ir::shape::format_shape(&expected)
        );
        let nll = log_probs.nll_loss(target, options.ignore_index, Reduction::None);
        let loss = if eps > 0.0 {
            // Smoothing mixes in the mean negative log-probability over all classes.
            let uniform = log_probs.mean(class_dim as isize, false).neg();
            let uniform = match options.ignore_index {
                Some(ignored) => target.ne_scalar(ignored).where_(&uniform, &uniform.zeros_like()),
                None => uniform,
            };
            nll.mul_scalar(1.0 - eps).add(&uniform.mul_scalar(eps))
        } else {
            nll
        };
        match options.reduction {
            Reduction::Mean => {
                let count = match options.ignore_index {
                    Some(ignored) => target.ne_scalar(ignored).to_dtype(loss.dtype()).sum_all(),
                    None => Tensor::scalar(target.numel() as f64).to_dtype(loss.dtype()),
                };
                loss.sum_all().div(&count)
            }
            other => reduce(loss, other),
        }
    }

    /// Negative log-likelihood of log-probabilities `[N, C, ...]` at class indices `[N, ...]`.
    pub fn nll_loss(&self, target: &Tensor, ignore_index: Option<i64>, reduction: Reduction) -> Tensor {
        assert!(
            matches!(target.dtype(), DType::I64 | DType::I32),
            "nll_loss: targets must be class indices (i64 or i32), got {}",
            target.describe()
        );
        let class_dim: isize = if self.rank() == 1 { 0 } else { 1 };
        let mut expected: Vec<usize> = self.shape().to_vec();
        expected.remove(class_dim as usize);
        assert_eq!(
            target.shape(),
            expected.as_slice(),
            "nll_loss: targets {} do not fit log-probabilities {} (expected targets of shape {expected:?})",
            target.describe(),
            self.describe()
        );
        let target = target.to_dtype(DType::I64);
        // Ignored targets may hold any value (often -100); point them at class 0 and mask.
        let valid = ignore_index.map(|i| target.ne_scalar(i));
        let safe = match &valid {
            Some(v) => v.where_(&target, &target.zeros_like()),
            None => target.clone(),
        };
        let picked = self.gather(class_dim, &safe.unsqueeze(class_dim)).squeeze(class_dim).neg();
        let picked = match &valid {
            Some(v) => v.where_(&picked, &picked.zeros_like()),
            None => picked,
        };
        match (reduction, valid) {
            (Reduction::Mean, Some(v)) => picked.sum_all().div(&v.to_dtype(picked.dtype()).sum_all()),
            (r, _) => reduce(picked, r),
        }
    }

    /// Mean (or sum) absolute error.
    pub fn l1_loss(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        check_same_shape("l1_loss", self, target);
        reduce(self.sub(target).abs(), reduction)
    }

    /// Squared error below `beta`, absolute error above it:
    /// `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta` (`beta = 0` is L1).
    pub fn smooth_l1_loss(&self, target: &Tensor, reduction: Reduction, beta: f64) -> Tensor {
        check_same_shape("smooth_l1_loss", self, target);
        assert!(beta >= 0.0, "smooth_l1_loss: beta must be non-negative, got {beta}");
        let d = self.sub(target).abs();
        if beta == 0.0 {
            return reduce(d, reduction);
        }
        let quadratic = d.square().mul_scalar(0.5 / beta);
        let linear = d.sub_scalar(0.5 * beta);
        reduce(d.lt_scalar(beta).where_(&quadratic, &linear), reduction)
    }

    /// Binary cross entropy of probabilities in `[0, 1]`; each log is clamped at -100 as in
    /// PyTorch, so a confident wrong answer gives a large finite loss.
    pub fn binary_cross_entropy(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        check_same_shape("binary_cross_entropy", self, target);
        let log_p = self.log().clamp_min(-100.0);
        let log_not_p = self.rsub_scalar(1.0).log().clamp_min(-100.0);
        let loss = target.mul(&log_p).add(&target.rsub_scalar(1.0).mul(&log_not_p)).neg();
        reduce(loss, reduction)
    }

    /// Kullback-Leibler divergence `target * (log target - input)` with `self` holding
    /// log-probabilities; `log_target` says the target holds log-probabilities too. Use
    /// `Reduction::BatchMean` for the true mean over a batch.
    pub fn kl_div(&self, target: &Tensor, reduction: Reduction, log_target: bool) -> Tensor {
        check_same_shape("kl_div", self, target);
        let loss = if log_target {
            target.exp().mul(&target.sub(self))
        } else {
            // 0 * log 0 counts as 0.
            let positive = target.gt_scalar(0.0);
            let safe_log = positive.where_(target, &target.ones_like()).log();
            positive.where_(&target.mul(&safe_log.sub(self)), &target.zeros_like())
        };
        reduce(loss, reduction)
    }

    /// Binary cross entropy on logits, computed stably:
    /// `max(x, 0) - x * y + log(1 + exp(-|x|))`.
    pub fn binary_cross_entropy_with_logits(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        assert_eq!(
            self.shape(),
            target.shape(),
            "binary_cross_entropy_with_logits: input {} and target {} must have the same shape",
            self.describe(),
            target.describe()
        );
        let loss = self.relu().sub(&self.mul(target)).add(&self.abs().neg().exp().log1p());
        reduce(loss, reduction)
    }

    /// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`;
    /// the identity when not `training`. Draws from the global generator.
    pub fn dropout(&self, p: f64, training: bool) -> Tensor {
        assert!((0.0..=1.0).contains(&p), "dropout: p must be in [0, 1], got {p}");
        if !training || p == 0.0 {
            return self.clone();
        }
        if p == 1.0 {
            return self.mul(&self.zeros_like());
        }
        let keep = Tensor::rand(self.dims(), DType::F32).ge_scalar(p).to_dtype(self.dtype());
        self.mul(&keep).mul_scalar(1.0 / (1.0 - p))
    }
}

fn check_same_shape(op: &str, input: &Tensor, target: &Tensor) {
    assert_eq!(
        input.shape(),
        target.shape(),
        "{op}: input {} and target {} must have the same shape",
        input.describe(),
        target.describe()
    );
}
