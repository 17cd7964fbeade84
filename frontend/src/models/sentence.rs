//! Sentence embeddings as sentence-transformers computes them for models such as
//! all-MiniLM-L6-v2: a BERT encoder, the mean of the token states over the real (unpadded)
//! tokens, then L2 normalisation when the model's `modules.json` lists `Normalize`.
//!
//! Like `bert`, this takes token ids; turning text into ids is the caller's job (the
//! `minilm` example uses the `tokenizers` crate on the model's `tokenizer.json`).

use super::bert::{BertConfig, BertModel};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use serde_json::Value;
use std::path::Path;

/// The mean of `hidden: [B, T, H]` over the tokens where `attention_mask: [B, T]` is
/// non-zero, `[B, H]`. A row without tokens gives zeros (the count is clamped to 1e-9, as
/// sentence-transformers does).
pub fn mean_pooling(hidden: &Tensor, attention_mask: &Tensor) -> Tensor {
    assert!(
        hidden.rank() == 3 && attention_mask.shape() == &hidden.shape()[..2],
        "mean_pooling: attention_mask {} must be [batch, tokens] of hidden {}",
        attention_mask.describe(),
        hidden.describe()
    );
    let weights = attention_mask.ne_scalar(0).to_dtype(hidden.dtype()).unsqueeze(-1);
    let total = hidden.mul(&weights).sum(1, false);
    let count = weights.sum(1, false).clamp_min(1e-9);
    total.div(&count)
}

/// Scales each row (the last dim) to unit L2 norm, as `torch.nn.functional.normalize`:
/// `x / max(|x|, 1e-12)`.
pub fn normalize(x: &Tensor) -> Tensor {
    let norm = x.square().sum(-1, true).sqrt().clamp_min(1e-12);
    x.div(&norm)
}

/// A BERT encoder with sentence-transformers' mean pooling and optional normalisation.
pub struct SentenceEncoder {
    pub bert: BertModel,
    /// The longest input, in tokens, the model was trained with (`max_seq_length` of
    /// `sentence_bert_config.json`); callers truncate to it.
    pub max_seq_length: usize,
    /// Whether embeddings are scaled to unit length.
    pub normalize: bool,
}

impl SentenceEncoder {
    /// Loads a sentence-transformers model folder:
    ///
    /// - `model.safetensors`, the encoder's weights (required);
    /// - `config.json`, its `BertConfig` (all-MiniLM-L6-v2's when absent);
    /// - `sentence_bert_config.json`, for `max_seq_length` (the position limit when absent);
    /// - `1_Pooling/config.json`, which must ask for mean pooling, the one mode implemented;
    /// - `modules.json`, whether a `Normalize` module follows the pooling.
    ///
    /// The encoder is in evaluation mode.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<SentenceEncoder> {
        let dir = dir.as_ref();
        let config_path = dir.join("config.json");
        let config = if config_path.exists() { BertConfig::from_file(&config_path)? } else { BertConfig::minilm_l6() };
        let bert = BertModel::from_safetensors(dir.join("model.safetensors"), &config)?;

        let max_seq_length = match read_json(&dir.join("sentence_bert_config.json"))? {
            Some(json) => json.get("max_seq_length").and_then(Value::as_u64).map_or(
                Err(bad(dir, "sentence_bert_config.json", "\"max_seq_length\" must be a non-negative integer")),
                |n| Ok(n as usize),
            )?,
            None => config.max_position_embeddings,
        }
        .min(config.max_position_embeddings);

        if let Some(pooling) = read_json(&dir.join("1_Pooling").join("config.json"))? {
            let mode = |key: &str| pooling.get(key).and_then(Value::as_bool).unwrap_or(false);
            let others = ["pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"];
            if !mode("pooling_mode_mean_tokens") || others.iter().any(|k| mode(k)) {
                return Err(bad(
                    dir,
                    "1_Pooling/config.json",
                    "only mean pooling (pooling_mode_mean_tokens alone) is implemented",
                ));
            }
        }

        let normalize = match read_json(&dir.join("modules.json"))? {
            Some(Value::Array(modules)) => {
                modules.iter().any(|m| m.get("type").and_then(Value::as_str).is_some_and(|t| t.ends_with(".Normalize")))
            }
            Some(_) => return Err(bad(dir, "modules.json", "expected a list of modules")),
            None => false,
        };
        Ok(SentenceEncoder { bert, max_seq_length, normalize })
    }

    /// The embedding width.
    pub fn dim(&self) -> usize {
        self.bert.config.hidden_size
    }

    /// Embeddings `[B, hidden]` for a padded batch of token ids `[B, T]` and its attention
    /// mask (non-zero for tokens). Runs without recording gradients.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Tensor {
        crate::no_grad(|| {
            let hidden = self.bert.forward_ids(input_ids, attention_mask, None);
            let pooled = mean_pooling(&hidden, attention_mask);
            if self.normalize { normalize(&pooled) } else { pooled }
        })
    }
}

/// A JSON file's contents, `None` when the file does not exist.
fn read_json(path: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Weights { path: path.to_path_buf(), message: format!("not valid JSON: {e}") })
}

fn bad(dir: &Path, file: &str, message: &str) -> Error {
    Error::Weights { path: dir.join(file), message: message.to_string() }
}
