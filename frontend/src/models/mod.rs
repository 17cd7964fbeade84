//! Pretrained architectures built from `nn` layers. Parameter names follow the checkpoints
//! the models load (Hugging Face's module trees), so weight files load unchanged. Models take
//! token ids: tokenizers and text stay outside the library.

pub mod bert;
pub mod sentence;

pub use bert::{BertConfig, BertModel};
pub use sentence::{SentenceEncoder, mean_pooling, normalize};
