//! all-MiniLM-L6-v2 sentence embeddings against the reference implementation.
//!
//! `tests/reference/minilm_embeddings.json` holds token ids and embeddings that
//! `tests/reference/minilm_reference.py` computed with sentence-transformers 6.2.0
//! (transformers 5.24.0, torch 2.15.0, CPU) from the files `scripts/setup.sh` puts in
//! `models/all-MiniLM-L6-v2`, the same files read here. The four sentences have different
//! lengths and are embedded in one padded batch, as the reference did. Tolerance: 1e-4
//! absolute on every one of the 384 values of each embedding.

use ignis::models::bert::{BertConfig, BertModel};
use ignis::models::{SentenceEncoder, mean_pooling};
use ignis::nn::Module;
use ignis::{DType, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Largest allowed |ignis - sentence-transformers| for any embedding value.
const TOLERANCE: f32 = 1e-4;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2")
}

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/minilm_embeddings.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sentences(reference: &Value) -> Vec<String> {
    reference["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn require_model_files() {
    for file in ["model.safetensors", "tokenizer.json", "config.json"] {
        let path = model_dir().join(file);
        assert!(path.exists(), "{} is missing: run scripts/setup.sh to download all-MiniLM-L6-v2", path.display());
    }
}

/// Loaded once for the tests of this file.
fn encoder() -> &'static SentenceEncoder {
    static ENCODER: OnceLock<SentenceEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        require_model_files();
        SentenceEncoder::from_dir(model_dir()).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The tokenizer as sentence-transformers uses it: truncation to `max_seq_length`,
/// padding to the longest sentence in the batch.
fn tokenizer(max_length: usize) -> Tokenizer {
    require_model_files();
    let mut tokenizer = Tokenizer::from_file(model_dir().join("tokenizer.json")).unwrap();
    let padding =
        PaddingParams { strategy: PaddingStrategy::BatchLongest, ..tokenizer.get_padding().cloned().unwrap() };
    tokenizer
        .with_padding(Some(padding))
        .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
        .unwrap();
    tokenizer
}

/// Ids and mask, i64 `[sentences, longest]`.
fn batch(tokenizer: &Tokenizer, sentences: &[String]) -> (Tensor, Tensor) {
    let encodings = tokenizer.encode_batch(sentences.to_vec(), true).unwrap();
    let len = encodings[0].len();
    let ids: Vec<i64> = encodings.iter().flat_map(|e| e.get_ids().iter().map(|&v| i64::from(v))).collect();
    let mask: Vec<i64> = encodings.iter().flat_map(|e| e.get_attention_mask().iter().map(|&v| i64::from(v))).collect();
    (Tensor::from_vec(ids, [sentences.len(), len]), Tensor::from_vec(mask, [sentences.len(), len]))
}

#[test]
fn tokenizer_ids_match_the_reference_tokenizer() {
    let reference = reference();
    let tokenizer = tokenizer(encoder().max_seq_length);
    for (sentence, expected) in sentences(&reference).iter().zip(reference["token_ids"].as_array().unwrap()) {
        let expected: Vec<u32> = expected.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let ids = tokenizer.encode(sentence.as_str(), true).unwrap().get_ids().to_vec();
        assert_eq!(ids, expected, "token ids of {sentence:?}");
    }
}

#[test]
fn embeddings_match_sentence_transformers() {
    let reference = reference();
    let sentences = sentences(&reference);
    let encoder = encoder();
    assert_eq!((encoder.max_seq_length, encoder.normalize), (256, true), "max_seq_length and Normalize of the folder");
    let (ids, mask) = batch(&tokenizer(encoder.max_seq_length), &sentences);
    let lengths: Vec<i64> = mask.sum(1, false).to_vec();
    assert!(lengths.iter().any(|&n| n < ids.shape()[1] as i64), "the batch must exercise padding: {lengths:?}");

    let embeddings = encoder.encode(&ids, &mask);
    assert_eq!(embeddings.shape(), &[sentences.len(), 384]);
    assert!(!embeddings.requires_grad(), "encode runs under no_grad");
    let got = embeddings.to_vec::<f32>();
    let mut worst = (0.0f32, 0, 0);
    for (i, expected) in reference["embeddings"].as_array().unwrap().iter().enumerate() {
        let expected = expected.as_array().unwrap();
        assert_eq!(expected.len(), 384);
        for (j, e) in expected.iter().enumerate() {
            let diff = (got[i * 384 + j] - e.as_f64().unwrap() as f32).abs();
            if diff > worst.0 {
                worst = (diff, i, j);
            }
        }
    }
    let (diff, i, j) = worst;
    eprintln!("max |ignis - sentence-transformers| = {diff:.3e} (sentence {i}, value {j})");
    assert!(diff <= TOLERANCE, "sentence {i} ({:?}), value {j}: off by {diff:e} > {TOLERANCE:e}", sentences[i]);
}

#[test]
fn padding_does_not_change_an_embedding() {
    let reference = reference();
    let sentences = sentences(&reference);
    let encoder = encoder();
    let tokenizer = tokenizer(encoder.max_seq_length);
    let (ids, mask) = batch(&tokenizer, &sentences);
    let padded = encoder.encode(&ids, &mask).select(0, 1).to_vec::<f32>();
    let (ids, mask) = batch(&tokenizer, &sentences[1..2]);
    let alone = encoder.encode(&ids, &mask).select(0, 0).to_vec::<f32>();
    let diff = padded.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "{:?} padded to the batch differs from it alone by {diff:e}", sentences[1]);
}

#[test]
fn mean_pooling_skips_padding() {
    // Rows [1, 2] and [3, 4] are tokens, [100, 100] padding: the mean is [2, 3].
    let hidden = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 100.0, 100.0], [1, 3, 2]);
    let mask = Tensor::from_vec(vec![1i64, 1, 0], [1, 3]);
    assert_eq!(mean_pooling(&hidden, &mask).to_vec::<f32>(), vec![2.0, 3.0]);
}

fn tiny_config() -> BertConfig {
    BertConfig {
        vocab_size: 11,
        hidden_size: 8,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 16,
        max_position_embeddings: 6,
        ..BertConfig::minilm_l6()
    }
}

#[test]
fn state_dict_uses_hugging_face_names() {
    let keys: Vec<String> = BertModel::new(&tiny_config()).state_dict().into_keys().collect();
    for key in [
        "embeddings.word_embeddings.weight",
        "embeddings.LayerNorm.bias",
        "embeddings.position_ids",
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.1.attention.output.LayerNorm.weight",
        "encoder.layer.1.intermediate.dense.bias",
        "encoder.layer.1.output.dense.weight",
        "pooler.dense.weight",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not among {keys:?}");
    }
    // 5 embedding tensors + position_ids, 16 per layer, 2 for the pooler.
    assert_eq!(keys.len(), 6 + 2 * 16 + 2);
}

#[test]
fn loading_names_missing_and_mis_shaped_keys() {
    let dir = std::env::temp_dir().join(format!("ignis-minilm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.safetensors");
    let model = BertModel::new(&tiny_config());
    model.eval();

    // A round trip gives the same model, with "bert." prefixes (as task heads save) removed
    // and the position ids (which newer checkpoints leave out) rebuilt.
    let mut prefixed: ignis::nn::StateDict =
        model.state_dict().into_iter().map(|(k, t)| (format!("bert.{k}"), t)).collect();
    prefixed.remove("bert.embeddings.position_ids").unwrap();
    ignis::weights::save(&prefixed, &path).unwrap();
    let loaded = BertModel::from_safetensors(&path, &tiny_config()).unwrap();
    let ids = Tensor::from_vec(vec![1i64, 5, 7, 2, 0, 0], [2, 3]);
    let diff = loaded.forward(&ids).sub(&model.forward(&ids)).abs().max_all().item::<f32>();
    assert_eq!(diff, 0.0);

    let mut state = model.state_dict();
    state.remove("encoder.layer.1.output.dense.bias");
    state.insert("pooler.dense.weight".into(), Tensor::zeros([8, 3], DType::F32));
    ignis::weights::save(&state, &path).unwrap();
    let message = match BertModel::from_safetensors(&path, &tiny_config()) {
        Ok(_) => panic!("a file with a missing key loaded"),
        Err(e) => e.to_string(),
    };
    std::fs::remove_dir_all(&dir).ok();
    assert!(message.contains("tiny.safetensors"), "{message}");
    assert!(message.contains("missing keys: encoder.layer.1.output.dense.bias"), "{message}");
    assert!(message.contains("pooler.dense.weight (expected f32[8,8], got f32[8,3])"), "{message}");
}

#[test]
fn compiled_embeddings_match_the_eager_ones() {
    require_model_files();
    let encoder = encoder();
    let reference = reference();
    let tokenizer = tokenizer(encoder.max_seq_length);
    let (ids, mask) = batch(&tokenizer, &sentences(&reference));
    let compiled = ignis::compile(move |(ids, mask): (Tensor, Tensor)| encoder.encode(&ids, &mask));
    let eager = encoder.encode(&ids, &mask);
    for _ in 0..2 {
        let got = compiled.call((ids.clone(), mask.clone()));
        // Generated kernels round differently in the last bits (fma, summation order,
        // their own exp/erf polynomials).
        for (i, (a, b)) in got.to_vec::<f32>().iter().zip(eager.to_vec::<f32>()).enumerate() {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "element {i}: {a} compiled, {b} eager");
        }
    }
    let report = ignis::explain(&compiled, (ids.clone(), mask.clone()));
    assert_eq!(report.break_count(), 0, "{report}");
    assert_eq!(compiled.stats().replays, 1);
}
