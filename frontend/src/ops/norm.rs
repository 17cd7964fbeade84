//! Softmax and normalization layers.

use crate::tensor::Tensor;

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `dim`, computed around the row max.
    pub fn softmax(&self, dim: isize) -> Tensor {
        let d = self.norm_dim("softmax", dim) as isize;
        let shift = crate::no_grad(|| self.max_dims(&[d], true));
        let e = self.sub(&shift).exp();
        e.div(&e.sum_dims(&[d], true))
    }

    /// `x - logsumexp(x)` along `dim`.
    pub fn log_softmax(&self, dim: isize) -> Tensor {
        let d = self.norm_dim("log_softmax", dim) as isize;
        self.sub(&self.logsumexp(&[d], true))
    }

    /// Normalizes over the trailing dims `normalized_shape`, then scales and shifts.
    pub fn layer_norm(&self, normalized_shape: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Tensor {
        let axes = self.normalized_axes("layer_norm", normalized_shape, weight, bias);
        let mean = self.mean_dims(&axes, true);
        let centered = self.sub(&mean);
        let var = centered.square().mean_dims(&axes, true);
        let mut y = centered.mul(&var.add_scalar(eps).rsqrt());
        if let Some(w) = weight {
            y = y.mul(w);
        }
        if let Some(b) = bias {
            y = y.add(b);
        }
        y
    }

    /// Root-mean-square normalization over the trailing dims `normalized_shape`.
    pub fn rms_norm(&self, normalized_shape: &[usize], weight: Option<&Tensor>, eps: f64) -> Tensor {
        let axes = self.normalized_axes("rms_norm", normalized_shape, weight, None);
        let y = self.mul(&self.square().mean_dims(&axes, true).add_scalar(eps).rsqrt());
        match weight {
            Some(w) => y.mul(w),
            None => y,
        }
    }

    /// Checks that `normalized_shape` ends the input's shape and matches the affine
    /// parameters; returns the normalized axes.
    fn normalized_axes(&self, op: &str, normalized_shape: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>) -> Vec<isize> {
        let n = normalized_shape.len();
        assert!(
            n >= 1 && n <= self.rank() && &self.shape()[self.rank() - n..] == normalized_shape,
            "{op}: normalized_shape {normalized_shape:?} must match the trailing dims of the input {}",
            self.describe()
        );
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                assert_eq!(t.shape(), normalized_shape, "{op}: {what} {} must have shape {normalized_shape:?}", t.describe());
            }
        }
        ((self.rank() - n) as isize..self.rank() as isize).collect()
    }
}
