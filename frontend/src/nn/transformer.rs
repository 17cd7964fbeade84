//! Pre-LN transformer blocks: an encoder block (bidirectional attention, optional padding
//! mask) and a decoder-only block (causal attention, GPT-2 style).
//!
//! `x + attn(ln1(x))`, then `x + mlp(ln2(x))`, with dropout on each branch.

use super::activation::GELU;
use super::attention::{AttentionMask, MultiheadAttention};
use super::dropout::Dropout;
use super::linear::Linear;
use super::module::{Entry, Module};
use super::norm::LayerNorm;
use crate::tensor::Tensor;

/// Sizes and options of a transformer block.
#[derive(Clone, Debug)]
pub struct BlockConfig {
    pub d_model: usize,
    pub heads: usize,
    /// Width of the MLP's hidden layer (4 * d_model by default).
    pub d_ff: usize,
    pub dropout: f64,
    pub layer_norm_eps: f64,
    /// GELU with the tanh approximation (GPT-2) instead of the exact one.
    pub gelu_tanh: bool,
}

impl BlockConfig {
    pub fn new(d_model: usize, heads: usize) -> BlockConfig {
        BlockConfig { d_model, heads, d_ff: 4 * d_model, dropout: 0.0, layer_norm_eps: 1e-5, gelu_tanh: true }
    }
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn d_ff(mut self, d_ff: usize) -> Self {
        self.d_ff = d_ff;
        self
    }
}

/// The position-wise MLP: Linear -> GELU -> Linear.
pub struct FeedForward {
    pub fc1: Linear,
    pub fc2: Linear,
    pub activation: GELU,
}

impl FeedForward {
    pub fn new(d_model: usize, d_ff: usize, gelu_tanh: bool) -> FeedForward {
        FeedForward {
            fc1: Linear::new(d_model, d_ff),
            fc2: Linear::new(d_ff, d_model),
            activation: GELU { tanh_approximation: gelu_tanh },
        }
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc2.forward(&self.activation.forward(&self.fc1.forward(x)))
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("fc1", Entry::Child(&self.fc1));
        visit("fc2", Entry::Child(&self.fc2));
    }
}

/// A pre-LN block; `causal` decides whether it is a decoder block.
pub struct TransformerBlock {
    pub ln1: LayerNorm,
    pub attn: MultiheadAttention,
    pub ln2: LayerNorm,
    pub mlp: FeedForward,
    pub dropout: Dropout,
    pub causal: bool,
}

impl TransformerBlock {
    fn with_causality(config: &BlockConfig, causal: bool) -> TransformerBlock {
        let d = config.d_model;
        TransformerBlock {
            ln1: LayerNorm::with_options(&[d], config.layer_norm_eps, true, true),
            attn: MultiheadAttention::with_options(d, config.heads, config.dropout, true),
            ln2: LayerNorm::with_options(&[d], config.layer_norm_eps, true, true),
            mlp: FeedForward::new(d, config.d_ff, config.gelu_tanh),
            dropout: Dropout::new(config.dropout),
            causal,
        }
    }

    /// A bidirectional (encoder) block.
    pub fn encoder(config: &BlockConfig) -> TransformerBlock {
        Self::with_causality(config, false)
    }

    /// A causal (decoder-only, GPT-style) block.
    pub fn decoder(config: &BlockConfig) -> TransformerBlock {
        Self::with_causality(config, true)
    }

    /// Applies the block to `[B, T, d_model]`, ignoring keys marked in `key_padding`
    /// (`[B, T]` bool, true = padding).
    pub fn forward_masked(&self, x: &Tensor, key_padding: Option<&Tensor>) -> Tensor {
        let mask = AttentionMask { causal: self.causal, key_padding, attn_mask: None };
        let attended = self.attn.self_attention(&self.ln1.forward(x), &mask);
        let x = x.add(&self.dropout.forward(&attended));
        x.add(&self.dropout.forward(&self.mlp.forward(&self.ln2.forward(&x))))
    }
}

impl Module for TransformerBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_masked(x, None)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("ln1", Entry::Child(&self.ln1));
        visit("attn", Entry::Child(&self.attn));
        visit("ln2", Entry::Child(&self.ln2));
        visit("mlp", Entry::Child(&self.mlp));
        visit("dropout", Entry::Child(&self.dropout));
    }
}
