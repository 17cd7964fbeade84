//! Softmax and normalization layers: fused runtime kernels forward, tensor-op rules backward.
//!
//! The rules use statistics the forward kernel saved (detached). When the backward pass
//! itself is being recorded (`create_graph`), the statistics are recomputed from the input
//! with tracked ops instead, so that second derivatives see their dependence on the input.

use super::run_op;
use crate::autograd::{Saved, is_grad_enabled, recompute_saved, record_out};
use crate::compile::trace::record_op;
use crate::tensor::Tensor;
use ignis_ir::{DType, Op, Scalar};
use ignis_runtime::{Device, cpu};

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `dim`.
    pub fn softmax(&self, dim: isize) -> Tensor {
        let d = self.norm_dim("softmax", dim);
        let x = self.float_input();
        let out = run_op(Op::Softmax { dim: d }, &[&x], x.dtype(), x.shape());
        let y = Saved::new("SoftmaxBackward", &out.detach());
        let xs = Saved::new("SoftmaxBackward", &x);
        record_out("SoftmaxBackward", &[&x], out, move |g| {
            let y = if is_grad_enabled() { xs.get().softmax_composed(d) } else { y.get().clone() };
            // dx = y * (g - sum(g * y))
            vec![Some(y.mul(&g.sub(&g.mul(&y).sum(d as isize, true))))]
        })
    }

    /// `x - logsumexp(x)` along `dim`.
    pub fn log_softmax(&self, dim: isize) -> Tensor {
        let d = self.norm_dim("log_softmax", dim);
        let x = self.float_input();
        let out = run_op(Op::LogSoftmax { dim: d }, &[&x], x.dtype(), x.shape());
        let y = Saved::new("LogSoftmaxBackward", &out.detach());
        let xs = Saved::new("LogSoftmaxBackward", &x);
        record_out("LogSoftmaxBackward", &[&x], out, move |g| {
            let p = if is_grad_enabled() { xs.get().softmax_composed(d) } else { y.get().exp() };
            // dx = g - softmax(x) * sum(g)
            vec![Some(g.sub(&p.mul(&g.sum(d as isize, true))))]
        })
    }

    fn softmax_composed(&self, dim: usize) -> Tensor {
        let shift = crate::no_grad(|| self.max(dim as isize, true));
        let e = self.sub(&shift).exp();
        e.div(&e.sum(dim as isize, true))
    }

    /// Integer inputs of float-only ops compute in f32, as in PyTorch.
    fn float_input(&self) -> Tensor {
        if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::F32) }
    }

    /// Normalizes over the trailing dims `normalized_shape` with the biased variance, then
    /// scales by `weight` and shifts by `bias`.
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let axes = self.normalized_axes("layer_norm", normalized_shape, weight, bias);
        let x = self.float_input();
        let mut inputs = vec![&x];
        inputs.extend(weight);
        inputs.extend(bias);
        let op = Op::LayerNorm { axes: axes.len(), eps: Scalar::Float(eps) };
        // The graph op takes its optional inputs by position: a bias alone comes with a
        // weight of ones.
        let ones;
        let op_inputs: Vec<&Tensor> = match (weight, bias) {
            (None, Some(b)) if crate::compile::is_tracing() => {
                ones = Tensor::ones(normalized_shape.to_vec(), x.dtype());
                vec![&x, &ones, b]
            }
            _ => inputs.clone(),
        };
        // Eagerly the fused kernel also hands back the statistics the rule needs; a traced
        // rule rebuilds them from graph ops.
        let (out, stats) = match record_op(&op, &op_inputs, None) {
            Some(traced) => (traced, None),
            // On a GPU the op is a generated kernel; the rule rebuilds the statistics.
            None if x.device() != Device::Cpu => {
                let ones;
                let positional: Vec<&Tensor> = match (weight, bias) {
                    (None, Some(b)) => {
                        ones = Tensor::ones(normalized_shape.to_vec(), x.dtype()).placed_like(&x);
                        vec![&x, &ones, b]
                    }
                    _ => inputs.clone(),
                };
                (run_op(op.clone(), &positional, x.dtype(), self.shape()), None)
            }
            None => {
                let (storage, mean, rstd) = cpu::layer_norm(
                    x.kernel_view(),
                    axes.len(),
                    weight.map(|w| w.kernel_view()),
                    bias.map(|b| b.kernel_view()),
                    eps,
                );
                let stats_shape = self.stats_shape(axes.len());
                let stats = (Tensor::from_storage(mean, &stats_shape), Tensor::from_storage(rstd, &stats_shape));
                (Tensor::from_storage(storage, self.shape()), Some(stats))
            }
        };
        let (xs, ws) = (Saved::new("LayerNormBackward", &x), weight.map(|w| Saved::new("LayerNormBackward", w)));
        let (bias_dtype, lead) = (bias.map(|b| b.dtype()), self.rank() - axes.len());
        record_out("LayerNormBackward", &inputs, out, move |g| {
            let x = xs.get();
            let (mean, rstd) = match &stats {
                Some((mean, rstd)) if !recompute_saved() => (mean.clone(), rstd.clone()),
                _ => {
                    let mu = x.mean_dims(&axes, true);
                    (mu.clone(), x.sub(&mu).square().mean_dims(&axes, true).add_scalar(eps).rsqrt())
                }
            };
            let compute = rstd.dtype();
            let (x, g) = (x.to_dtype(compute), g.to_dtype(compute));
            let xhat = x.sub(&mean).mul(&rstd);
            let w = ws.as_ref().map(|w| w.get().to_dtype(compute));
            let gxhat = match &w {
                Some(w) => g.mul(w),
                None => g.clone(),
            };
            // dx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))
            let gx = rstd.mul(
                &gxhat.sub(&gxhat.mean_dims(&axes, true)).sub(&xhat.mul(&gxhat.mul(&xhat).mean_dims(&axes, true))),
            );
            let lead_axes: Vec<isize> = (0..lead as isize).collect();
            let over_rows = |t: Tensor| if lead_axes.is_empty() { t } else { t.sum_dims(&lead_axes, false) };
            let mut grads = vec![Some(gx.to_dtype(xs.get().dtype()))];
            if let Some(w) = &ws {
                grads.push(Some(over_rows(g.mul(&xhat)).to_dtype(w.get().dtype())));
            }
            if let Some(dtype) = bias_dtype {
                grads.push(Some(over_rows(g.clone()).to_dtype(dtype)));
            }
            grads
        })
    }

    /// Root-mean-square normalization over the trailing dims `normalized_shape`.
    pub fn rms_norm(&self, normalized_shape: &[usize], weight: Option<&Tensor>, eps: f64) -> Tensor {
        let axes = self.normalized_axes("rms_norm", normalized_shape, weight, None);
        let x = self.float_input();
        let mut inputs = vec![&x];
        inputs.extend(weight);
        let op = Op::RmsNorm { axes: axes.len(), eps: Scalar::Float(eps) };
        let (out, saved_rstd) = match record_op(&op, &inputs, None) {
            Some(traced) => (traced, None),
            None if x.device() != Device::Cpu => (run_op(op.clone(), &inputs, x.dtype(), self.shape()), None),
            None => {
                let (storage, rstd) = cpu::rms_norm(x.kernel_view(), axes.len(), weight.map(|w| w.kernel_view()), eps);
                let rstd = Tensor::from_storage(rstd, &self.stats_shape(axes.len()));
                (Tensor::from_storage(storage, self.shape()), Some(rstd))
            }
        };
        let (xs, ws) = (Saved::new("RmsNormBackward", &x), weight.map(|w| Saved::new("RmsNormBackward", w)));
        let lead = self.rank() - axes.len();
        record_out("RmsNormBackward", &inputs, out, move |g| {
            let x = xs.get();
            let rstd = match &saved_rstd {
                Some(rstd) if !recompute_saved() => rstd.clone(),
                _ => x.square().mean_dims(&axes, true).add_scalar(eps).rsqrt(),
            };
            let compute = rstd.dtype();
            let (xc, g) = (x.to_dtype(compute), g.to_dtype(compute));
            let xhat = xc.mul(&rstd);
            let gxhat = match &ws {
                Some(w) => g.mul(&w.get().to_dtype(compute)),
                None => g.clone(),
            };
            // dx = rstd * (gxhat - xhat * mean(gxhat * xhat))
            let gx = rstd.mul(&gxhat.sub(&xhat.mul(&gxhat.mul(&xhat).mean_dims(&axes, true))));
            let mut grads = vec![Some(gx.to_dtype(x.dtype()))];
            if let Some(w) = &ws {
                let lead_axes: Vec<isize> = (0..lead as isize).collect();
                let gw = g.mul(&xhat);
                let gw = if lead_axes.is_empty() { gw } else { gw.sum_dims(&lead_axes, false) };
                grads.push(Some(gw.to_dtype(w.get().dtype())));
            }
            grads
        })
    }

    /// The shape of per-row statistics, broadcastable against the input.
    fn stats_shape(&self, normalized: usize) -> Vec<usize> {
        let mut shape = self.shape()[..self.rank() - normalized].to_vec();
        shape.extend(std::iter::repeat_n(1, normalized));
        shape
    }

    /// Checks that `normalized_shape` ends the input's shape and matches the affine
    /// parameters; returns the normalized axes.
    fn normalized_axes(
        &self,
        op: &str,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
    ) -> Vec<isize> {
        let n = normalized_shape.len();
        assert!(
            n >= 1 && n <= self.rank() && &self.shape()[self.rank() - n..] == normalized_shape,
            "{op}: normalized_shape {normalized_shape:?} must match the trailing dims of the input {}",
            self.describe()
        );
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                assert_eq!(
                    t.shape(),
                    normalized_shape,
                    "{op}: {what} {} must have shape {normalized_shape:?}",
                    t.describe()
                );
            }
        }
        ((self.rank() - n) as isize..self.rank() as isize).collect()
    }
}
