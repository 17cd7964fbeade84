//! BERT encoders (Devlin et al., 2018) as Hugging Face's `BertModel` computes them, for
//! checkpoints such as all-MiniLM-L6-v2.
//!
//! Parameter names follow Hugging Face's module tree (`encoder.layer.0.attention.self.query.
//! weight`, ...), so a `model.safetensors` loads with a strict `load_state_dict`. A layer
//! names its members by dotted paths (`attention.self.query`) instead of nesting one struct
//! per level of that tree. The model takes token ids: tokenizers are not this module's
//! business.

use crate::error::{Error, Result};
use crate::nn::{Dropout, Embedding, Entry, LayerNorm, Linear, Module, ModuleList};
use crate::tensor::Tensor;
use ignis_ir::DType;
use serde_json::Value;
use std::path::Path;

/// The activation of a BERT feed-forward block (`hidden_act` in `config.json`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HiddenAct {
    /// `"gelu"`: the exact, erf form.
    Gelu,
    /// `"gelu_new"`, `"gelu_pytorch_tanh"`: the tanh approximation.
    GeluTanh,
    Relu,
}

/// The hyper-parameters of a BERT encoder: the fields of a Hugging Face `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: HiddenAct,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    /// The standard deviation of the normal initialisation used by `BertModel::new`.
    pub initializer_range: f64,
}

impl BertConfig {
    /// all-MiniLM-L6-v2 (and `nreimers/MiniLM-L6-H384-uncased`, which it was tuned from).
    pub fn minilm_l6() -> BertConfig {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            initializer_range: 0.02,
        }
    }

    /// Reads a Hugging Face `config.json`. The size fields are required; the others default
    /// to BERT's defaults. Configurations this module does not implement (relative position
    /// embeddings, an unknown activation) are an error rather than a silently different model.
    pub fn from_file(path: impl AsRef<Path>) -> Result<BertConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        BertConfig::from_json(&text).map_err(|message| Error::Weights { path: path.to_path_buf(), message })
    }

    /// Parses the text of a `config.json`; the error names the field that is wrong.
    pub fn from_json(text: &str) -> std::result::Result<BertConfig, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let size = |key: &str| -> std::result::Result<usize, String> {
            let value = json.get(key).ok_or_else(|| format!("the field \"{key}\" is missing"))?;
            value
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| format!("\"{key}\" must be a non-negative integer, got {value}"))
        };
        let float = |key: &str, default: f64| -> std::result::Result<f64, String> {
            match json.get(key) {
                None => Ok(default),
                Some(value) => value.as_f64().ok_or_else(|| format!("\"{key}\" must be a number, got {value}")),
            }
        };
        let hidden_act = match json.get("hidden_act").and_then(Value::as_str).unwrap_or("gelu") {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => HiddenAct::GeluTanh,
            "relu" => HiddenAct::Relu,
            other => return Err(format!("hidden_act \"{other}\" is not supported (gelu, gelu_new, relu)")),
        };
        let position = json.get("position_embedding_type").and_then(Value::as_str).unwrap_or("absolute");
        if position != "absolute" {
            return Err(format!("position_embedding_type \"{position}\" is not supported (absolute)"));
        }
        let config = BertConfig {
            vocab_size: size("vocab_size")?,
            hidden_size: size("hidden_size")?,
            num_hidden_layers: size("num_hidden_layers")?,
            num_attention_heads: size("num_attention_heads")?,
            intermediate_size: size("intermediate_size")?,
            max_position_embeddings: size("max_position_embeddings")?,
            type_vocab_size: json.get("type_vocab_size").map_or(Ok(2), |_| size("type_vocab_size"))?,
            layer_norm_eps: float("layer_norm_eps", 1e-12)?,
            hidden_act,
            hidden_dropout_prob: float("hidden_dropout_prob", 0.1)?,
            attention_probs_dropout_prob: float("attention_probs_dropout_prob", 0.1)?,
            initializer_range: float("initializer_range", 0.02)?,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }
}

/// Token, position and segment embeddings, summed and normalised.
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
    /// `[1, max_position_embeddings]` i64: `0, 1, 2, ...`; a buffer because checkpoints
    /// saved by older versions of `transformers` hold it.
    pub position_ids: Tensor,
}

impl BertEmbeddings {
    fn forward_ids(&self, input_ids: &Tensor, token_type_ids: &Tensor) -> Tensor {
        let len = input_ids.shape()[1];
        let positions = self.position_ids.narrow(1, 0, len);
        let sum = self
            .word_embeddings
            .forward(input_ids)
            .add(&self.token_type_embeddings.forward(token_type_ids))
            .add(&self.position_embeddings.forward(&positions));
        self.dropout.forward(&self.layer_norm.forward(&sum))
    }
}

impl Module for BertEmbeddings {
    /// Embeds `[B, T]` ids as segment 0.
    fn forward(&self, input_ids: &Tensor) -> Tensor {
        self.forward_ids(input_ids, &Tensor::zeros(input_ids.shape(), DType::I64))
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("word_embeddings", Entry::Child(&self.word_embeddings));
        visit("position_embeddings", Entry::Child(&self.position_embeddings));
        visit("token_type_embeddings", Entry::Child(&self.token_type_embeddings));
        visit("LayerNorm", Entry::Child(&self.layer_norm));
        visit("dropout", Entry::Child(&self.dropout));
        visit("position_ids", Entry::Buffer(&self.position_ids));
    }
}

/// One transformer block: multi-head self-attention and a feed-forward network, each
/// followed by dropout, a residual connection and layer norm (post-norm).
pub struct BertLayer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_dropout: Dropout,
    pub attention_output: Linear,
    pub attention_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: LayerNorm,
    pub hidden_dropout: Dropout,
    pub num_heads: usize,
    pub hidden_act: HiddenAct,
}

impl BertLayer {
    /// `hidden: [B, T, H]`; `mask_bias: [B, 1, 1, T]`, added to the attention scores
    /// (0 for tokens, a large negative number for padding).
    pub fn forward_masked(&self, hidden: &Tensor, mask_bias: &Tensor) -> Tensor {
        let (batch, len, width) = (hidden.shape()[0], hidden.shape()[1], hidden.shape()[2]);
        let head_dim = width / self.num_heads;
        // The dense layers see [B*T, H], so each is one matrix product rather than one per
        // sentence (each of which would re-pack the weight).
        let tokens = hidden.reshape([batch * len, width]);
        // [B*T, H] -> [B, heads, T, head_dim]
        let heads = |x: Tensor| x.reshape([batch, len, self.num_heads, head_dim]).permute(&[0, 2, 1, 3]);
        let query = heads(self.query.forward(&tokens));
        let key = heads(self.key.forward(&tokens));
        let value = heads(self.value.forward(&tokens));
        let scores = query.matmul(&key.transpose(-1, -2)).mul_scalar(1.0 / (head_dim as f64).sqrt()).add(mask_bias);
        let probs = self.attention_dropout.forward(&scores.softmax(-1));
        let context = probs.matmul(&value).permute(&[0, 2, 1, 3]).reshape([batch * len, width]);
        let attended = self.hidden_dropout.forward(&self.attention_output.forward(&context));
        let attended = self.attention_norm.forward(&attended.add(&tokens));

        let inner = self.intermediate.forward(&attended);
        let inner = match self.hidden_act {
            HiddenAct::Gelu => inner.gelu(),
            HiddenAct::GeluTanh => inner.gelu_tanh(),
            HiddenAct::Relu => inner.relu(),
        };
        let out = self.hidden_dropout.forward(&self.output.forward(&inner));
        self.output_norm.forward(&out.add(&attended)).reshape([batch, len, width])
    }
}

impl Module for BertLayer {
    /// Attends over every position (no padding).
    fn forward(&self, hidden: &Tensor) -> Tensor {
        let (batch, len) = (hidden.shape()[0], hidden.shape()[1]);
        self.forward_masked(hidden, &Tensor::zeros([batch, 1, 1, len], hidden.dtype()))
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("attention.self.query", Entry::Child(&self.query));
        visit("attention.self.key", Entry::Child(&self.key));
        visit("attention.self.value", Entry::Child(&self.value));
        visit("attention.self.dropout", Entry::Child(&self.attention_dropout));
        visit("attention.output.dense", Entry::Child(&self.attention_output));
        visit("attention.output.LayerNorm", Entry::Child(&self.attention_norm));
        visit("intermediate.dense", Entry::Child(&self.intermediate));
        visit("output.dense", Entry::Child(&self.output));
        visit("output.LayerNorm", Entry::Child(&self.output_norm));
        visit("output.dropout", Entry::Child(&self.hidden_dropout));
    }
}

/// `tanh(dense(h_CLS))`: the next-sentence-prediction head's input. Sentence embeddings
/// do not use it; it is kept so that checkpoints load strictly and `pooled` is available.
pub struct BertPooler {
    pub dense: Linear,
}

impl Module for BertPooler {
    /// `[B, T, H]` -> `[B, H]`, from the first token.
    fn forward(&self, hidden: &Tensor) -> Tensor {
        self.dense.forward(&hidden.select(1, 0)).tanh()
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("dense", Entry::Child(&self.dense));
    }
}

/// A BERT encoder: embeddings, `num_hidden_layers` blocks and the pooler.
pub struct BertModel {
    pub config: BertConfig,
    pub embeddings: BertEmbeddings,
    pub layers: ModuleList<BertLayer>,
    pub pooler: BertPooler,
}

/// The score added for padding keys: as `transformers`, the most negative f32, so their
/// softmax weight is exactly zero.
const MASKED_SCORE: f64 = f32::MIN as f64;

impl BertModel {
    /// A model initialised as `transformers` does: weights N(0, initializer_range), biases
    /// zero, layer norms the identity.
    pub fn new(config: &BertConfig) -> BertModel {
        let std = config.initializer_range;
        BertModel::build(config, &|shape| {
            let w = Tensor::zeros(shape, DType::F32).requires_grad_(true);
            crate::nn::init::normal_(&w, 0.0, std);
            w
        })
    }

    /// Loads a Hugging Face `model.safetensors` of `BertModel` (keys such as
    /// `embeddings.word_embeddings.weight`; a `bert.` prefix, as task models write it, is
    /// removed). Returns the model in evaluation mode. A missing, unexpected or mis-shaped key
    /// is an error naming the file and every such key.
    pub fn from_safetensors(path: impl AsRef<Path>, config: &BertConfig) -> Result<BertModel> {
        let path = path.as_ref();
        let model = BertModel::build(config, &|shape| Tensor::zeros(shape, DType::F32).requires_grad_(true));
        let mut state = crate::weights::load(path)?;
        if state.keys().any(|k| k.starts_with("bert.")) {
            state =
                state.into_iter().map(|(k, t)| (k.strip_prefix("bert.").map(str::to_string).unwrap_or(k), t)).collect();
        }
        // Newer `transformers` versions do not save the position ids; they are 0, 1, 2, ...
        let positions = config.max_position_embeddings;
        state
            .entry("embeddings.position_ids".to_string())
            .or_insert_with(|| Tensor::arange(0.0, positions as f64, 1.0, DType::I64).reshape([1, positions]));
        model.load_state_dict(&state, true).map_err(|e| match e {
            Error::StateDict(message) => Error::Weights {
                path: path.to_path_buf(),
                message: format!("does not hold a BERT model of this configuration: {message}"),
            },
            other => other,
        })?;
        model.eval();
        Ok(model)
    }

    /// The skeleton, with each weight matrix made by `weight(shape)`.
    fn build(config: &BertConfig, weight: &dyn Fn(&[usize]) -> Tensor) -> BertModel {
        if let Err(message) = config.check() {
            panic!("BertModel: {message}");
        }
        let h = config.hidden_size;
        let linear = |input: usize, output: usize| {
            Linear::from_weights(
                weight(&[output, input]),
                Some(Tensor::zeros([output], DType::F32).requires_grad_(true)),
            )
        };
        let norm = || LayerNorm::with_options(&[h], config.layer_norm_eps, true, true);
        let layer = || BertLayer {
            query: linear(h, h),
            key: linear(h, h),
            value: linear(h, h),
            attention_dropout: Dropout::new(config.attention_probs_dropout_prob),
            attention_output: linear(h, h),
            attention_norm: norm(),
            intermediate: linear(h, config.intermediate_size),
            output: linear(config.intermediate_size, h),
            output_norm: norm(),
            hidden_dropout: Dropout::new(config.hidden_dropout_prob),
            num_heads: config.num_attention_heads,
            hidden_act: config.hidden_act,
        };
        let positions = config.max_position_embeddings;
        BertModel {
            config: config.clone(),
            embeddings: BertEmbeddings {
                word_embeddings: Embedding::from_weights(weight(&[config.vocab_size, h])),
                position_embeddings: Embedding::from_weights(weight(&[positions, h])),
                token_type_embeddings: Embedding::from_weights(weight(&[config.type_vocab_size, h])),
                layer_norm: norm(),
                dropout: Dropout::new(config.hidden_dropout_prob),
                position_ids: Tensor::arange(0.0, positions as f64, 1.0, DType::I64).reshape([1, positions]),
            },
            layers: ModuleList::new((0..config.num_hidden_layers).map(|_| layer()).collect()),
            pooler: BertPooler { dense: linear(h, h) },
        }
    }

    /// The last hidden states `[B, T, hidden]` for integer `input_ids: [B, T]`.
    ///
    /// `attention_mask: [B, T]` (any dtype) is non-zero for tokens and zero for padding,
    /// which no token attends to; `token_type_ids: [B, T]` defaults to segment 0.
    pub fn forward_ids(&self, input_ids: &Tensor, attention_mask: &Tensor, token_type_ids: Option<&Tensor>) -> Tensor {
        assert!(
            input_ids.rank() == 2 && matches!(input_ids.dtype(), DType::I64 | DType::I32),
            "BertModel: input_ids must be integer [batch, tokens], got {}",
            input_ids.describe()
        );
        let (batch, len) = (input_ids.shape()[0], input_ids.shape()[1]);
        assert!(
            len <= self.config.max_position_embeddings,
            "BertModel: {len} tokens exceed max_position_embeddings ({}); truncate the input",
            self.config.max_position_embeddings
        );
        assert_eq!(
            attention_mask.shape(),
            input_ids.shape(),
            "BertModel: attention_mask {} must have the shape of input_ids {}",
            attention_mask.describe(),
            input_ids.describe()
        );
        if let Some(types) = token_type_ids {
            assert_eq!(
                types.shape(),
                input_ids.shape(),
                "BertModel: token_type_ids {} must have the shape of input_ids {}",
                types.describe(),
                input_ids.describe()
            );
        }
        let zeros;
        let token_types = match token_type_ids {
            Some(t) => t,
            None => {
                zeros = Tensor::zeros([batch, len], DType::I64);
                &zeros
            }
        };
        let padding = attention_mask.eq_scalar(0).reshape([batch, 1, 1, len]);
        let mask_bias = Tensor::zeros([batch, 1, 1, len], DType::F32).masked_fill(&padding, MASKED_SCORE);
        let mut hidden = self.embeddings.forward_ids(input_ids, token_types);
        for layer in &self.layers {
            hidden = layer.forward_masked(&hidden, &mask_bias);
        }
        hidden
    }

    /// The pooler's output `[B, hidden]` for last hidden states `[B, T, hidden]`.
    pub fn pooled(&self, hidden: &Tensor) -> Tensor {
        self.pooler.forward(hidden)
    }
}

impl Module for BertModel {
    /// The last hidden states for `input_ids: [B, T]` with every token attended to.
    fn forward(&self, input_ids: &Tensor) -> Tensor {
        self.forward_ids(input_ids, &Tensor::ones(input_ids.shape(), DType::I64), None)
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("embeddings", Entry::Child(&self.embeddings));
        visit("encoder.layer", Entry::Child(&self.layers));
        visit("pooler", Entry::Child(&self.pooler));
    }
}
