//! Dropout: zeroes elements with probability `p` in training mode and scales the rest by
//! `1 / (1 - p)`; the identity in evaluation mode.

use super::module::{Entry, Module};
use crate::tensor::Tensor;

pub struct Dropout {
    pub p: f64,
    training: super::module::ModeFlag,
}

impl Dropout {
    pub fn new(p: f64) -> Dropout {
        assert!((0.0..=1.0).contains(&p), "Dropout: p must be in [0, 1], got {p}");
        Dropout { p, training: super::module::ModeFlag::new(true) }
    }

    pub fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Module for Dropout {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.dropout(self.p, self.is_training())
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}
