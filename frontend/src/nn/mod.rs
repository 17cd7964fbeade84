//! Neural-network building blocks in the manner of `torch.nn`: the `Module` trait, layers,
//! initialisation and loss modules. Layers are thin: their maths is the tensor ops of
//! `ops/`, so gradients come from those ops' rules.

mod activation;
mod attention;
mod container;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod loss;
mod module;
mod norm;
mod pool;
mod transformer;

pub mod init;

pub use activation::{GELU, LeakyReLU, ReLU, SiLU, Sigmoid, Softmax, Tanh};
pub use attention::{AttentionMask, MultiheadAttention, causal_mask};
pub use container::{ModuleList, Sequential};
pub use conv::{Conv1d, Conv2d, ConvConfig, ConvTranspose2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::{Flatten, Identity, Linear};
pub use loss::{BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss};
pub use module::{Entry, Module, StateDict};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use transformer::{BlockConfig, FeedForward, TransformerBlock};

/// Gradient clipping under its `torch.nn.utils` names.
pub mod utils {
    pub use crate::optim::{clip_grad_norm_, clip_grad_value_};
}
