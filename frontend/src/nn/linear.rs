//! Fully connected layers.

use super::init;
use super::module::{Entry, Module};
use crate::tensor::Tensor;

/// `y = x W^T + b`, with `W: [out, in]` as in PyTorch (so weights load unchanged).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A layer with PyTorch's default initialisation (Kaiming uniform weight, uniform bias
    /// in `±1/sqrt(in)`).
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        Self::with_bias(in_features, out_features, true)
    }

    pub fn with_bias(in_features: usize, out_features: usize, bias: bool) -> Linear {
        let weight = init::parameter(&[out_features, in_features]);
        init::default_weight_(&weight);
        let bias = bias.then(|| {
            let b = init::parameter(&[out_features]);
            init::default_bias_(&b, in_features);
            b
        });
        Linear { weight, bias }
    }

    /// Wraps existing tensors (`weight: [out, in]`, `bias: [out]`).
    pub fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Linear {
        assert_eq!(weight.rank(), 2, "Linear: weight must be [out, in], got {}", weight.describe());
        if let Some(b) = &bias {
            assert_eq!(
                b.shape(),
                &weight.shape()[..1],
                "Linear: bias {} does not fit weight {}",
                b.describe(),
                weight.describe()
            );
        }
        Linear { weight, bias }
    }

    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.linear(&self.weight, self.bias.as_ref())
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("weight", Entry::Parameter(&self.weight));
        if let Some(b) = &self.bias {
            visit("bias", Entry::Parameter(b));
        }
    }
}

/// Passes its input through unchanged.
#[derive(Default)]
pub struct Identity;

impl Module for Identity {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.clone()
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}

/// Flattens dims `start..=end` into one (default: all but the batch dim).
pub struct Flatten {
    pub start: isize,
    pub end: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start: 1, end: -1 }
    }
}

impl Module for Flatten {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.flatten(self.start, self.end)
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}
