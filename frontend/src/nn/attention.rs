//! Multi-head attention, with PyTorch's parameter layout (`in_proj_weight [3E, E]`,
//! `out_proj`) so weights load unchanged, and batch-first tensors `[B, T, E]`.

use super::init;
use super::linear::Linear;
use super::module::{Entry, Module};
use crate::tensor::Tensor;
use ignis_ir::DType;

/// Which key positions each query may attend to.
#[derive(Clone, Default)]
pub struct AttentionMask<'t> {
    /// Query `i` sees keys `0..=i` only.
    pub causal: bool,
    /// `[B, S]` bool, true for keys that are padding (and so ignored).
    pub key_padding: Option<&'t Tensor>,
    /// `[T, S]` or `[B * heads, T, S]`: bool (true = not allowed) or float (added to the
    /// scores).
    pub attn_mask: Option<&'t Tensor>,
}

impl<'t> AttentionMask<'t> {
    pub fn causal() -> Self {
        AttentionMask { causal: true, ..Default::default() }
    }
    pub fn key_padding(mask: &'t Tensor) -> Self {
        AttentionMask { key_padding: Some(mask), ..Default::default() }
    }
}

/// `[T, S]` bool mask, true above the diagonal (the future).
pub fn causal_mask(t: usize, s: usize) -> Tensor {
    let rows = Tensor::arange(0.0, t as f64, 1.0, DType::I64).unsqueeze(1);
    let cols = Tensor::arange(0.0, s as f64, 1.0, DType::I64).unsqueeze(0);
    cols.gt(&rows)
}

/// Attention over `heads` heads of width `E / heads`.
pub struct MultiheadAttention {
    pub embed_dim: usize,
    pub heads: usize,
    pub dropout: f64,
    /// Query, key and value projections stacked: `[3E, E]`.
    pub in_proj_weight: Tensor,
    pub in_proj_bias: Option<Tensor>,
    pub out_proj: Linear,
    training: super::module::ModeFlag,
}

impl MultiheadAttention {
    /// Xavier-uniform input projections and zero biases, as PyTorch.
    pub fn new(embed_dim: usize, heads: usize) -> MultiheadAttention {
        Self::with_options(embed_dim, heads, 0.0, true)
    }

    pub fn with_options(embed_dim: usize, heads: usize, dropout: f64, bias: bool) -> MultiheadAttention {
        assert!(
            heads > 0 && embed_dim.is_multiple_of(heads),
            "MultiheadAttention: embed_dim {embed_dim} must divide into {heads} heads"
        );
        let in_proj_weight = init::parameter(&[3 * embed_dim, embed_dim]);
        init::xavier_uniform_(&in_proj_weight, 1.0);
        let in_proj_bias = bias.then(|| init::parameter(&[3 * embed_dim]));
        let out_proj = Linear::with_bias(embed_dim, embed_dim, bias);
        if let Some(b) = &out_proj.bias {
            init::zeros_(b);
        }
        MultiheadAttention {
            embed_dim,
            heads,
            dropout,
            in_proj_weight,
            in_proj_bias,
            out_proj,
            training: super::module::ModeFlag::new(true),
        }
    }

    fn project(&self, x: &Tensor, part: usize) -> Tensor {
        let e = self.embed_dim;
        let w = self.in_proj_weight.narrow(0, part * e, e);
        let b = self.in_proj_bias.as_ref().map(|b| b.narrow(0, part * e, e));
        x.linear(&w, b.as_ref())
    }

    /// `[B, L, E]` to `[B, heads, L, E / heads]`.
    fn split_heads(&self, x: &Tensor) -> Tensor {
        let (b, l) = (x.shape()[0], x.shape()[1]);
        x.reshape([b, l, self.heads, self.embed_dim / self.heads]).permute(&[0, 2, 1, 3])
    }

    /// Self-attention when `query`, `key` and `value` are one tensor. Returns the output
    /// `[B, T, E]` and the attention weights averaged over heads `[B, T, S]`.
    pub fn attend(&self, query: &Tensor, key: &Tensor, value: &Tensor, mask: &AttentionMask) -> (Tensor, Tensor) {
        let (out, weights) = self.attend_inner(query, key, value, mask);
        (out, weights.mean(1, false))
    }

    fn attend_inner(&self, query: &Tensor, key: &Tensor, value: &Tensor, mask: &AttentionMask) -> (Tensor, Tensor) {
        for (name, t) in [("query", query), ("key", key), ("value", value)] {
            assert!(
                t.rank() == 3 && t.shape()[2] == self.embed_dim,
                "MultiheadAttention: {name} must be [B, L, {}], got {}",
                self.embed_dim,
                t.describe()
            );
        }
        let (b, t, s) = (query.shape()[0], query.shape()[1], key.shape()[1]);
        let same = query.identity() == key.identity() && key.identity() == value.identity();
        let (q, k, v) = if same {
            // One matmul for the three projections.
            let qkv = query.linear(&self.in_proj_weight, self.in_proj_bias.as_ref());
            let parts = qkv.chunk(3, -1);
            (parts[0].clone(), parts[1].clone(), parts[2].clone())
        } else {
            (self.project(query, 0), self.project(key, 1), self.project(value, 2))
        };
        let (q, k, v) = (self.split_heads(&q), self.split_heads(&k), self.split_heads(&v));
        let head_dim = self.embed_dim / self.heads;
        let mut scores = q.matmul(&k.transpose(-2, -1)).mul_scalar(1.0 / (head_dim as f64).sqrt());
        scores = apply_mask(scores, mask, b, self.heads, t, s);
        let weights = scores.softmax(-1);
        let dropped = weights.dropout(self.dropout, self.training.get());
        let out = dropped.matmul(&v).permute(&[0, 2, 1, 3]).reshape([b, t, self.embed_dim]);
        (self.out_proj.forward(&out), weights)
    }

    /// Self-attention of `x` under `mask`, without the weights.
    pub fn self_attention(&self, x: &Tensor, mask: &AttentionMask) -> Tensor {
        self.attend_inner(x, x, x, mask).0
    }
}

/// Applies every part of `mask` to `[B, H, T, S]` scores.
fn apply_mask(mut scores: Tensor, mask: &AttentionMask, b: usize, heads: usize, t: usize, s: usize) -> Tensor {
    let mut blocked: Option<Tensor> = None;
    let mut join = |m: Tensor| {
        blocked = Some(match blocked.take() {
            Some(prev) => prev.logical_or(&m),
            None => m,
        })
    };
    if mask.causal {
        join(causal_mask(t, s));
    }
    if let Some(p) = mask.key_padding {
        assert!(p.shape() == [b, s], "MultiheadAttention: key_padding mask must be [{b}, {s}], got {}", p.describe());
        let p = if p.dtype() == DType::Bool { p.clone() } else { p.ne_scalar(0) };
        join(p.reshape([b, 1, 1, s]));
    }
    if let Some(m) = mask.attn_mask {
        let m = match m.rank() {
            2 => m.reshape([1, 1, t, s]),
            3 => m.reshape([b, heads, t, s]),
            _ => panic!("MultiheadAttention: attn_mask must be [T, S] or [B * heads, T, S], got {}", m.describe()),
        };
        if m.dtype() == DType::Bool {
            join(m);
        } else {
            scores = scores.add(&m);
        }
    }
    match blocked {
        Some(m) => scores.masked_fill(&m, f64::NEG_INFINITY),
        None => scores,
    }
}

impl Module for MultiheadAttention {
    /// Unmasked self-attention.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.self_attention(x, &AttentionMask::default())
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("in_proj_weight", Entry::Parameter(&self.in_proj_weight));
        if let Some(b) = &self.in_proj_bias {
            visit("in_proj_bias", Entry::Parameter(b));
        }
        visit("out_proj", Entry::Child(&self.out_proj));
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}
