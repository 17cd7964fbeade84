//! Activations as modules, for `Sequential`.

use super::module::{Entry, Module};
use crate::tensor::Tensor;

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Module for $name {
            fn forward(&self, $x: &Tensor) -> Tensor {
                $body
            }
            fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
        }
    };
}

activation!(
    /// `max(x, 0)`.
    ReLU, |x| x.relu()
);
activation!(
    /// `x * sigmoid(x)`.
    SiLU, |x| x.silu()
);
activation!(Tanh, |x| x.tanh());
activation!(Sigmoid, |x| x.sigmoid());

/// GELU, exact (erf) by default or with the tanh approximation (`approximate = "tanh"`).
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU {
    pub tanh_approximation: bool,
}

impl GELU {
    /// The tanh approximation GPT-2 uses.
    pub fn tanh() -> GELU {
        GELU { tanh_approximation: true }
    }
}

impl Module for GELU {
    fn forward(&self, x: &Tensor) -> Tensor {
        if self.tanh_approximation { x.gelu_tanh() } else { x.gelu() }
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}

/// Softmax over one dim.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    pub dim: isize,
}

impl Softmax {
    pub fn new(dim: isize) -> Softmax {
        Softmax { dim }
    }
}

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.softmax(self.dim)
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}

/// `max(x, slope * x)`.
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU {
    pub negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU { negative_slope: 0.01 }
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.leaky_relu(self.negative_slope)
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
}
