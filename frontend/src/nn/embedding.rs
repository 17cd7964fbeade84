//! Lookup tables.

use super::init;
use super::module::{Entry, Module};
use crate::tensor::Tensor;

/// Maps integer ids `[...]` to rows of `weight: [num_embeddings, dim]`, giving `[..., dim]`.
pub struct Embedding {
    pub weight: Tensor,
    /// An id whose row is initialised to zero (and, as in PyTorch, gets no gradient).
    pub padding_idx: Option<usize>,
}

impl Embedding {
    /// Weights drawn from N(0, 1), as PyTorch does.
    pub fn new(num_embeddings: usize, dim: usize) -> Embedding {
        let weight = init::parameter(&[num_embeddings, dim]);
        init::normal_(&weight, 0.0, 1.0);
        Embedding { weight, padding_idx: None }
    }

    /// Like `new`, with the row of `padding_idx` zeroed and kept out of gradients.
    pub fn with_padding_idx(num_embeddings: usize, dim: usize, padding_idx: usize) -> Embedding {
        assert!(
            padding_idx < num_embeddings,
            "Embedding: padding_idx {padding_idx} out of range for {num_embeddings} embeddings"
        );
        let e = Embedding { padding_idx: Some(padding_idx), ..Embedding::new(num_embeddings, dim) };
        crate::no_grad(|| {
            e.weight.select(0, padding_idx).zero_();
        });
        e
    }

    pub fn from_weights(weight: Tensor) -> Embedding {
        assert_eq!(weight.rank(), 2, "Embedding: weight must be [num_embeddings, dim], got {}", weight.describe());
        Embedding { weight, padding_idx: None }
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Tensor {
        match self.padding_idx {
            // The padding row is read through a detached copy so it gets no gradient.
            Some(pad) if self.weight.requires_grad() && crate::is_grad_enabled() => {
                let keep = ids.ne_scalar(pad as i64).unsqueeze(-1);
                keep.where_(&self.weight.embedding(ids), &self.weight.detach().embedding(ids))
            }
            _ => self.weight.embedding(ids),
        }
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("weight", Entry::Parameter(&self.weight));
    }
}
