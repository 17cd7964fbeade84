//! Safetensors files: written and read by ignis, read from files PyTorch wrote, and every
//! kind of bad file rejected with an error that says what is wrong.
//!
//! `tests/reference/torch_weights.safetensors` was written by PyTorch 2.15 and safetensors
//! (`tests/reference/safetensors_reference.py write`); the same script's `check` mode reads a
//! file ignis wrote (`IGNIS_WRITE_TORCH_CHECK=path cargo test --test weights` leaves one).

use ignis::nn::{Linear, Module, ReLU, Sequential, StateDict};
use ignis::{DType, Error, Tensor, bf16, f16, weights};
use std::collections::BTreeMap;
use std::path::PathBuf;

const TORCH_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/reference/torch_weights.safetensors");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ignis-weights-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn torch_like_model() -> Sequential {
    Sequential::new().add(Linear::new(3, 4)).add(ReLU).add(Linear::new(4, 2))
}

/// The tensors the reference script writes, built here from their definitions.
fn expected_tensors() -> StateDict {
    let mut s = StateDict::new();
    let arange = |n: usize| Tensor::arange(0.0, n as f64, 1.0, DType::F32);
    s.insert("0.weight".into(), arange(12).reshape([4, 3]).mul_scalar(0.5));
    s.insert("0.bias".into(), arange(4).sub_scalar(1.5));
    s.insert("2.weight".into(), arange(8).reshape([2, 4]).mul_scalar(-0.25));
    s.insert("2.bias".into(), Tensor::from_vec(vec![0.125f32, -0.125], [2]));
    s.insert("extra.f64".into(), Tensor::from_vec((0..6).map(|i| i as f64 / 3.0).collect::<Vec<_>>(), [2, 3]));
    s.insert(
        "extra.f16".into(),
        Tensor::from_vec((0..5).map(|i| f16::from_f32(i as f32 * 0.25)).collect::<Vec<_>>(), [5]),
    );
    s.insert(
        "extra.bf16".into(),
        Tensor::from_vec((0..5).map(|i| bf16::from_f32(i as f32 * -2.0)).collect::<Vec<_>>(), [5]),
    );
    s.insert("extra.i64".into(), Tensor::from_vec((0..4).map(|i| i * 1_000_000_000_000i64).collect::<Vec<_>>(), [4]));
    s.insert("extra.i32".into(), Tensor::from_vec(vec![-2i32, -1, 0, 1], [4]));
    s.insert("extra.u8".into(), Tensor::from_vec(vec![0u8, 100, 200], [3]));
    s.insert("extra.bool".into(), Tensor::from_vec(vec![true, false, true], [3]));
    s.insert("extra.scalar".into(), Tensor::scalar(7.5f32));
    s
}

fn assert_same(a: &Tensor, b: &Tensor, name: &str) {
    assert_eq!(a.dtype(), b.dtype(), "{name}: dtype");
    assert_eq!(a.shape(), b.shape(), "{name}: shape");
    assert_eq!(a.to_vec::<f64>(), b.to_vec::<f64>(), "{name}: values");
}

#[test]
fn reads_every_dtype_from_a_file_pytorch_wrote() {
    let (loaded, metadata) = weights::load_with_metadata(TORCH_FILE).unwrap();
    let expected = expected_tensors();
    assert_eq!(loaded.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (name, want) in &expected {
        assert_same(&loaded[name], want, name);
    }
    assert_eq!(metadata.get("written_by").map(String::as_str), Some("torch"));
}

#[test]
fn loads_a_pytorch_state_dict_into_a_model_non_strictly() {
    let model = torch_like_model();
    // The file has extra tensors, so a strict load refuses it and names them ...
    let err = weights::load_into(&model, TORCH_FILE, true).unwrap_err().to_string();
    assert!(err.contains("unexpected keys: extra.bf16"), "{err}");
    assert!(err.contains("torch_weights.safetensors"), "{err}");
    // ... and a non-strict load takes the model's four tensors.
    weights::load_into(&model, TORCH_FILE, false).unwrap();
    let x = Tensor::from_vec(vec![1.0f32, -1.0, 2.0], [1, 3]);
    // h = relu(W0 x + b0) with W0 rows (0,.5,1), (1.5,2,2.5), (3,3.5,4), (4.5,5,5.5):
    // W0 x = (1.5, 4.5, 7.5, 10.5); + b0 (-1.5,-.5,.5,1.5) = (0, 4, 8, 12).
    // y = W2 h + b2 with W2 rows -.25*(0,1,2,3), -.25*(4,5,6,7):
    // -.25*(0+4+16+36) = -14 and -.25*(0+20+48+84) = -38, plus b2 (.125, -.125).
    assert_eq!(model.forward(&x).to_vec::<f32>(), vec![-13.875, -38.125]);
}

#[test]
fn save_then_load_round_trips_every_dtype_and_views() {
    let mut state = expected_tensors();
    // A transposed view is written as its logical (row-major) values.
    state.insert("view.t".into(), Tensor::arange(0.0, 6.0, 1.0, DType::F32).reshape([2, 3]).t());
    let path = scratch("round_trip.safetensors");
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    weights::save_with_metadata(&state, &metadata, &path).unwrap();
    let (loaded, meta) = weights::load_with_metadata(&path).unwrap();
    assert_eq!(meta, metadata);
    for (name, want) in &state {
        assert_same(&loaded[name], want, name);
    }
    assert_eq!(loaded["view.t"].to_vec::<f32>(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    if let Ok(target) = std::env::var("IGNIS_WRITE_TORCH_CHECK") {
        weights::save(&expected_tensors(), target).unwrap();
    }
}

#[test]
fn a_model_saved_and_loaded_computes_the_same() {
    let a = torch_like_model();
    let b = torch_like_model();
    let x = Tensor::randn([5, 3], DType::F32);
    assert_ne!(a.forward(&x).to_vec::<f32>(), b.forward(&x).to_vec::<f32>());
    let path = scratch("model.safetensors");
    weights::save(&a.state_dict(), &path).unwrap();
    weights::load_into(&b, &path, true).unwrap();
    assert_eq!(a.forward(&x).to_vec::<f32>(), b.forward(&x).to_vec::<f32>());
}

fn load_err(bytes: &[u8]) -> String {
    match weights::from_bytes(bytes) {
        Ok(_) => panic!("bad bytes were accepted"),
        Err(message) => message,
    }
}

#[test]
fn truncated_and_corrupt_files_are_errors_not_panics() {
    let good = std::fs::read(TORCH_FILE).unwrap();
    // Every truncation point fails cleanly.
    for cut in [0, 4, 8, 9, good.len() / 2, good.len() - 1] {
        let message = load_err(&good[..cut]);
        assert!(message.contains("not a valid safetensors file"), "cut at {cut}: {message}");
    }
    // A header length pointing past the end.
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(load_err(&huge).contains("not a valid safetensors file"));
    // A header that is not JSON.
    let mut garbled = good.clone();
    garbled[8] = b'#';
    assert!(load_err(&garbled).contains("not a valid safetensors file"));
    // Random bytes never panic.
    let mut state = 12345u64;
    for len in [16usize, 64, 500] {
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 56) as u8
            })
            .collect();
        let _ = weights::from_bytes(&noise);
    }
}

/// Builds a file by hand: `header` JSON then `data`.
fn handmade(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn unsupported_dtypes_and_bad_bool_bytes_are_named() {
    let header = r#"{"x":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}"#;
    let message = load_err(&handmade(header, &[0; 4]));
    assert!(message.contains("tensor x") && message.contains("I16"), "{message}");
    let header = r#"{"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#;
    let message = load_err(&handmade(header, &[1, 7]));
    assert!(message.contains("tensor b") && message.contains("byte 7"), "{message}");
    let header = r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    let message = load_err(&handmade(header, &[0; 8]));
    assert!(message.contains("not a valid safetensors file"), "{message}");
}

#[test]
fn wrong_shape_or_dtype_is_an_error_that_names_every_key_and_writes_nothing() {
    let model = Sequential::new().add(Linear::new(3, 4));
    let before = model.state_dict()["0.weight"].to_vec::<f32>();
    let mut state = StateDict::new();
    state.insert("0.weight".into(), Tensor::zeros([4, 2], DType::F32));
    state.insert("0.bias".into(), Tensor::zeros([4], DType::F64));
    let path = scratch("wrong.safetensors");
    weights::save(&state, &path).unwrap();
    let err = weights::load_into(&model, &path, true).unwrap_err();
    assert!(matches!(err, Error::Weights { .. }));
    let message = err.to_string();
    assert!(message.contains("0.weight (expected f32[4,3], got f32[4,2])"), "{message}");
    assert!(message.contains("0.bias (expected f32[4], got f64[4])"), "{message}");
    assert_eq!(model.state_dict()["0.weight"].to_vec::<f32>(), before);
}

#[test]
fn a_missing_file_is_an_io_error_naming_the_path() {
    let err = weights::load("/nonexistent/dir/w.safetensors").unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/dir/w.safetensors"));
}
