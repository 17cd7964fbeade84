//! nn layers and losses against PyTorch.
//!
//! The expected values were recorded with PyTorch 2.15 by `tests/reference/nn_reference.py`
//! (stored in `tests/reference/nn_reference.json`); weights and inputs on both sides come
//! from the same deterministic formula, `det` below.

use ignis::nn::{
    AttentionMask, BatchNorm1d, BatchNorm2d, BlockConfig, ConvTranspose2d, GroupNorm, Module, MultiheadAttention,
    RMSNorm, TransformerBlock,
};
use ignis::{CrossEntropyOptions, DType, Reduction, Tensor, no_grad};
use serde_json::Value;
use std::sync::LazyLock;

static REFERENCE: LazyLock<Value> = LazyLock::new(|| {
    let text = include_str!("../reference/nn_reference.json");
    serde_json::from_str(text).expect("nn_reference.json is valid JSON")
});

/// `sin(0.37 i + seed) * scale` in row-major order, the reference script's `det`.
fn det(shape: &[usize], seed: f64, scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i as f64 * 0.37 + seed).sin() * scale) as f32).collect();
    Tensor::from_vec(values, shape.to_vec())
}

fn expected(path: &[&str]) -> Vec<f32> {
    let mut v = &*REFERENCE;
    for key in path {
        v = &v[*key];
    }
    match v {
        Value::Array(items) => items.iter().map(|x| x.as_f64().expect("a number") as f32).collect(),
        Value::Number(x) => vec![x.as_f64().expect("a number") as f32],
        other => panic!("reference {path:?} is not numeric: {other}"),
    }
}

#[track_caller]
fn assert_close(actual: &Tensor, path: &[&str]) {
    let want = expected(path);
    let got = actual.to_vec::<f32>();
    assert_eq!(got.len(), want.len(), "{path:?}: {} values, expected {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 2e-5 + 2e-4 * w.abs(), "{path:?}[{i}]: got {g}, PyTorch gives {w}");
    }
}

fn set(param: &Tensor, value: &Tensor) {
    no_grad(|| {
        param.copy_(value);
    });
}

fn mha() -> MultiheadAttention {
    let (e, h) = (8, 2);
    let m = MultiheadAttention::new(e, h);
    set(&m.in_proj_weight, &det(&[3 * e, e], 1.0, 0.5));
    set(m.in_proj_bias.as_ref().unwrap(), &det(&[3 * e], 2.0, 0.1));
    set(&m.out_proj.weight, &det(&[e, e], 3.0, 0.5));
    set(m.out_proj.bias.as_ref().unwrap(), &det(&[e], 4.0, 0.1));
    m
}

#[test]
fn multihead_attention_matches_pytorch_with_every_mask() {
    let m = mha();
    let padding = Tensor::from_vec(vec![false, false, false, false, false, true], [2, 3]);
    let cases: [(&str, AttentionMask); 4] = [
        ("plain", AttentionMask::default()),
        ("causal", AttentionMask::causal()),
        ("padding", AttentionMask::key_padding(&padding)),
        ("both", AttentionMask { causal: true, key_padding: Some(&padding), attn_mask: None }),
    ];
    for (name, mask) in cases {
        let x = det(&[2, 3, 8], 5.0, 1.0).with_grad();
        let (y, w) = m.attend(&x, &x, &x, &mask);
        y.mul(&det(&[2, 3, 8], 6.0, 1.0)).sum_all().backward();
        assert_close(&y, &["mha", name, "out"]);
        assert_close(&w, &["mha", name, "weights"]);
        assert_close(&x.grad().unwrap(), &["mha", name, "x_grad"]);
    }
}

#[test]
fn multihead_cross_attention_matches_pytorch() {
    let m = mha();
    let (y, w) = m.attend(
        &det(&[2, 2, 8], 7.0, 1.0),
        &det(&[2, 3, 8], 8.0, 1.0),
        &det(&[2, 3, 8], 8.0, 1.0),
        &AttentionMask::default(),
    );
    assert_eq!(y.shape(), &[2, 2, 8]);
    assert_close(&y, &["mha", "cross", "out"]);
    assert_close(&w, &["mha", "cross", "weights"]);
}

#[test]
fn attention_float_mask_is_added_and_bool_mask_blocks() {
    let m = mha();
    let x = det(&[2, 3, 8], 5.0, 1.0);
    // A float mask of 0 / -inf is the same as the causal bool mask.
    let float_mask = ignis::nn::causal_mask(3, 3).to_dtype(DType::F32).mul_scalar(-1e30);
    let with_float = m.attend(&x, &x, &x, &AttentionMask { attn_mask: Some(&float_mask), ..Default::default() }).0;
    let bool_mask = ignis::nn::causal_mask(3, 3);
    let with_bool = m.attend(&x, &x, &x, &AttentionMask { attn_mask: Some(&bool_mask), ..Default::default() }).0;
    assert_close(&with_float, &["mha", "causal", "out"]);
    assert_close(&with_bool, &["mha", "causal", "out"]);
}

fn check_conv_transpose(
    name: &str,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    groups: usize,
    seed: f64,
) {
    let config = ignis::nn::Conv2d::config(cin, cout, k).stride(stride).padding(padding).groups(groups);
    let layer = ConvTranspose2d::with_config(config, [output_padding; 2]);
    set(&layer.weight, &det(layer.weight.shape(), seed, 0.3));
    set(layer.bias.as_ref().unwrap(), &det(&[cout], seed + 1.0, 0.1));
    let x = det(&[2, cin, 4, 5], seed + 2.0, 1.0).with_grad();
    let y = layer.forward(&x);
    let shape: Vec<usize> = expected(&["conv_transpose2d", name, "shape"]).iter().map(|&d| d as usize).collect();
    assert_eq!(y.shape(), shape.as_slice(), "{name}: output shape");
    y.mul(&det(y.shape(), seed + 3.0, 1.0)).sum_all().backward();
    assert_close(&y, &["conv_transpose2d", name, "out"]);
    assert_close(&x.grad().unwrap(), &["conv_transpose2d", name, "x_grad"]);
    assert_close(&layer.weight.grad().unwrap(), &["conv_transpose2d", name, "weight_grad"]);
    assert_close(&layer.bias.as_ref().unwrap().grad().unwrap(), &["conv_transpose2d", name, "bias_grad"]);
}

#[test]
fn conv_transpose2d_matches_pytorch_with_stride_padding_and_output_padding() {
    check_conv_transpose("s2", 3, 4, 3, 2, 1, 1, 1, 10.0);
}

#[test]
fn conv_transpose2d_matches_pytorch_with_groups() {
    check_conv_transpose("groups", 4, 6, 2, 1, 0, 0, 2, 20.0);
}

#[test]
fn group_norm_matches_pytorch() {
    let gn = GroupNorm::new(2, 4);
    set(gn.weight.as_ref().unwrap(), &det(&[4], 30.0, 0.5).add_scalar(1.0));
    set(gn.bias.as_ref().unwrap(), &det(&[4], 31.0, 0.5));
    assert_close(&gn.forward(&det(&[2, 4, 3, 3], 32.0, 2.0)), &["group_norm"]);
}

#[test]
fn batch_norm2d_tracks_running_statistics_like_pytorch() {
    let bn = BatchNorm2d::new(3);
    set(bn.weight.as_ref().unwrap(), &det(&[3], 40.0, 0.5).add_scalar(1.0));
    set(bn.bias.as_ref().unwrap(), &det(&[3], 41.0, 0.5));
    bn.train();
    assert_close(&bn.forward(&det(&[2, 3, 2, 2], 42.0, 2.0)), &["batch_norm2d", "train1"]);
    assert_close(&bn.forward(&det(&[4, 3, 1, 2], 43.0, 3.0).add_scalar(1.0)), &["batch_norm2d", "train2"]);
    bn.eval();
    assert_close(&bn.forward(&det(&[1, 3, 2, 2], 44.0, 1.0)), &["batch_norm2d", "eval"]);
    assert_close(bn.running_mean.as_ref().unwrap(), &["batch_norm2d", "running_mean"]);
    assert_close(bn.running_var.as_ref().unwrap(), &["batch_norm2d", "running_var"]);
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().item::<i64>(), 2);
}

#[test]
fn batch_norm1d_accepts_two_and_three_dim_inputs() {
    let bn = BatchNorm1d::new(3);
    assert_close(&bn.forward(&det(&[5, 3], 45.0, 2.0)), &["batch_norm1d", "out"]);
    assert_close(&bn.forward(&det(&[2, 3, 4], 46.0, 1.0)), &["batch_norm1d", "out_l"]);
    assert_close(bn.running_mean.as_ref().unwrap(), &["batch_norm1d", "running_mean"]);
    assert_close(bn.running_var.as_ref().unwrap(), &["batch_norm1d", "running_var"]);
}

#[test]
fn rms_norm_uses_the_f32_epsilon_by_default() {
    let rms = RMSNorm::new(&[6]);
    set(rms.weight.as_ref().unwrap(), &det(&[6], 50.0, 0.5).add_scalar(1.0));
    // Inputs of size 1e-2 make eps visible in the result.
    assert_close(&rms.forward(&det(&[2, 6], 51.0, 0.01)), &["rms_norm"]);
}

fn check_loss(name: &str, input: &Tensor, loss: impl Fn(&Tensor) -> Tensor) {
    let x = input.detach().with_grad();
    let value = loss(&x);
    value.backward();
    assert_close(&value, &["losses", name, "value"]);
    assert_close(&x.grad().unwrap(), &["losses", name, "grad"]);
}

#[test]
fn losses_match_pytorch_values_and_gradients() {
    let a = det(&[3, 4], 60.0, 2.0);
    let b = det(&[3, 4], 61.0, 2.0);
    let probs = det(&[3, 4], 62.0, 3.0).sigmoid();
    let labels = det(&[3, 4], 63.0, 1.0).gt_scalar(0.0).to_dtype(DType::F32);
    let logits = det(&[4, 5], 64.0, 2.0);
    let classes = Tensor::from_vec(vec![1i64, 4, 0, 2], [4]);
    let classes_ignored = Tensor::from_vec(vec![1i64, -100, 0, 2], [4]);
    let soft = det(&[4, 5], 65.0, 2.0).softmax(1);
    let log_p = det(&[3, 4], 66.0, 1.0).log_softmax(1);
    let q = det(&[3, 4], 67.0, 1.0).softmax(1);
    let mean = Reduction::Mean;

    check_loss("l1", &a, |x| x.l1_loss(&b, mean));
    check_loss("l1_sum", &a, |x| x.l1_loss(&b, Reduction::Sum));
    check_loss("smooth_l1", &a, |x| x.smooth_l1_loss(&b, mean, 1.0));
    check_loss("smooth_l1_beta_half", &a, |x| x.smooth_l1_loss(&b, mean, 0.5));
    check_loss("mse", &a, |x| ignis::nn::MSELoss::new().forward(x, &b));
    check_loss("bce", &probs, |x| ignis::nn::BCELoss::new().forward(x, &labels));
    check_loss("bce_logits", &a, |x| ignis::nn::BCEWithLogitsLoss::new().forward(x, &labels));
    check_loss("kl_div_batchmean", &log_p, |x| x.kl_div(&q, Reduction::BatchMean, false));
    check_loss("kl_div_mean_log_target", &log_p, |x| {
        ignis::nn::KLDivLoss { reduction: mean, log_target: true }.forward(x, &q.log())
    });
    check_loss("cross_entropy", &logits, |x| ignis::nn::CrossEntropyLoss::new().forward(x, &classes));
    let smoothing = CrossEntropyOptions { ignore_index: Some(-100), label_smoothing: 0.1, reduction: mean };
    check_loss("cross_entropy_smoothing_ignore", &logits, |x| x.cross_entropy(&classes_ignored, &smoothing));
    let probs_smoothing = CrossEntropyOptions { label_smoothing: 0.2, ..Default::default() };
    check_loss("cross_entropy_probs_smoothing", &logits, |x| x.cross_entropy(&soft, &probs_smoothing));
    check_loss("nll_sum", &logits, |x| {
        ignis::nn::NLLLoss { ignore_index: None, reduction: Reduction::Sum }.forward(&x.log_softmax(1), &classes)
    });
}

/// Loads the reference script's weights (named as in PyTorch's TransformerEncoderLayer)
/// into a block.
fn reference_block(causal: bool, seed: f64) -> TransformerBlock {
    let config = BlockConfig { gelu_tanh: false, ..BlockConfig::new(8, 2).d_ff(16) };
    let block = if causal { TransformerBlock::decoder(&config) } else { TransformerBlock::encoder(&config) };
    let (d, ff) = (8, 16);
    set(&block.attn.in_proj_weight, &det(&[3 * d, d], seed, 0.4));
    set(block.attn.in_proj_bias.as_ref().unwrap(), &det(&[3 * d], seed + 1.0, 0.1));
    set(&block.attn.out_proj.weight, &det(&[d, d], seed + 2.0, 0.4));
    set(block.attn.out_proj.bias.as_ref().unwrap(), &det(&[d], seed + 3.0, 0.1));
    set(&block.mlp.fc1.weight, &det(&[ff, d], seed + 4.0, 0.4));
    set(block.mlp.fc1.bias.as_ref().unwrap(), &det(&[ff], seed + 5.0, 0.1));
    set(&block.mlp.fc2.weight, &det(&[d, ff], seed + 6.0, 0.3));
    set(block.mlp.fc2.bias.as_ref().unwrap(), &det(&[d], seed + 7.0, 0.1));
    set(block.ln1.weight.as_ref().unwrap(), &det(&[d], seed + 8.0, 0.2).add_scalar(1.0));
    set(block.ln1.bias.as_ref().unwrap(), &det(&[d], seed + 9.0, 0.2));
    set(block.ln2.weight.as_ref().unwrap(), &det(&[d], seed + 10.0, 0.2).add_scalar(1.0));
    set(block.ln2.bias.as_ref().unwrap(), &det(&[d], seed + 11.0, 0.2));
    block
}

#[test]
fn pre_ln_encoder_block_with_padding_matches_pytorch() {
    let block = reference_block(false, 70.0);
    let padding = Tensor::from_vec(vec![false, false, false, false, false, false, true, true], [2, 4]);
    let x = det(&[2, 4, 8], 82.0, 1.0).with_grad();
    let y = block.forward_masked(&x, Some(&padding));
    y.mul(&det(&[2, 4, 8], 83.0, 1.0)).sum_all().backward();
    assert_close(&y, &["encoder_block", "out"]);
    assert_close(&x.grad().unwrap(), &["encoder_block", "x_grad"]);
    assert_close(&block.mlp.fc1.weight.grad().unwrap(), &["encoder_block", "fc1_weight_grad"]);
}

#[test]
fn decoder_block_is_causal_and_matches_pytorch() {
    let block = reference_block(true, 90.0);
    let x = det(&[2, 4, 8], 102.0, 1.0).with_grad();
    let y = block.forward(&x);
    y.mul(&det(&[2, 4, 8], 103.0, 1.0)).sum_all().backward();
    assert_close(&y, &["decoder_block", "out"]);
    assert_close(&x.grad().unwrap(), &["decoder_block", "x_grad"]);
    assert_close(&block.mlp.fc1.weight.grad().unwrap(), &["decoder_block", "fc1_weight_grad"]);
    // Changing the last position leaves every earlier output unchanged.
    let x2 = x.detach().contiguous_copy();
    no_grad(|| {
        x2.narrow(1, 3, 1).fill_(5.0);
    });
    let y2 = block.forward(&x2);
    assert_eq!(y2.narrow(1, 0, 3).to_vec::<f32>(), y.narrow(1, 0, 3).to_vec::<f32>());
}
