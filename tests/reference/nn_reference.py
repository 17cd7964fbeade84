"""Reference values for tests/tests/nn_layers.rs, recorded with PyTorch.

Every weight and input is the deterministic function `det(shape, seed, scale)` below, which the
Rust test reproduces, so both sides start from the same numbers.

    python3 tests/reference/nn_reference.py > tests/reference/nn_reference.json
"""

import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)


def det(shape, seed, scale=1.0):
    n = math.prod(shape)
    vals = [math.sin(i * 0.37 + seed) * scale for i in range(n)]
    return torch.tensor(vals, dtype=torch.float32).reshape(shape)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def set_(param, value):
    with torch.no_grad():
        param.copy_(value)


out = {"torch_version": torch.__version__}

# ---- MultiheadAttention (batch first), E=8, H=2, B=2, T=3
E, H, B, T = 8, 2, 2, 3
mha = nn.MultiheadAttention(E, H, batch_first=True)
set_(mha.in_proj_weight, det([3 * E, E], 1.0, 0.5))
set_(mha.in_proj_bias, det([3 * E], 2.0, 0.1))
set_(mha.out_proj.weight, det([E, E], 3.0, 0.5))
set_(mha.out_proj.bias, det([E], 4.0, 0.1))
x = det([B, T, E], 5.0).requires_grad_(True)
padding = torch.tensor([[False, False, False], [False, False, True]])
causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
cases = {}
for name, kwargs in {
    "plain": {},
    "causal": {"attn_mask": causal},
    "padding": {"key_padding_mask": padding},
    "both": {"attn_mask": causal, "key_padding_mask": padding},
}.items():
    x.grad = None
    y, w = mha(x, x, x, need_weights=True, average_attn_weights=True, **kwargs)
    (y * det([B, T, E], 6.0)).sum().backward()
    cases[name] = {"out": flat(y), "weights": flat(w), "x_grad": flat(x.grad)}
# cross attention: different query and key/value lengths
q = det([B, 2, E], 7.0)
kv = det([B, T, E], 8.0)
y, w = mha(q, kv, kv, need_weights=True)
cases["cross"] = {"out": flat(y), "weights": flat(w)}
out["mha"] = cases

# ---- ConvTranspose2d
def conv_t(cin, cout, k, stride, padding, output_padding, groups, seed):
    layer = nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=padding, output_padding=output_padding, groups=groups)
    set_(layer.weight, det(list(layer.weight.shape), seed, 0.3))
    set_(layer.bias, det([cout], seed + 1, 0.1))
    x = det([2, cin, 4, 5], seed + 2).requires_grad_(True)
    y = layer(x)
    (y * det(list(y.shape), seed + 3)).sum().backward()
    return {
        "shape": list(y.shape),
        "out": flat(y),
        "x_grad": flat(x.grad),
        "weight_grad": flat(layer.weight.grad),
        "bias_grad": flat(layer.bias.grad),
    }


out["conv_transpose2d"] = {
    "s2": conv_t(3, 4, 3, 2, 1, 1, 1, 10.0),
    "groups": conv_t(4, 6, 2, 1, 0, 0, 2, 20.0),
}

# ---- GroupNorm, BatchNorm, RMSNorm
gn = nn.GroupNorm(2, 4)
set_(gn.weight, det([4], 30.0, 0.5) + 1)
set_(gn.bias, det([4], 31.0, 0.5))
out["group_norm"] = flat(gn(det([2, 4, 3, 3], 32.0, 2.0)))

bn = nn.BatchNorm2d(3)
set_(bn.weight, det([3], 40.0, 0.5) + 1)
set_(bn.bias, det([3], 41.0, 0.5))
bn.train()
y1 = bn(det([2, 3, 2, 2], 42.0, 2.0))
y2 = bn(det([4, 3, 1, 2], 43.0, 3.0) + 1)
bn.eval()
y3 = bn(det([1, 3, 2, 2], 44.0))
out["batch_norm2d"] = {
    "train1": flat(y1),
    "train2": flat(y2),
    "eval": flat(y3),
    "running_mean": flat(bn.running_mean),
    "running_var": flat(bn.running_var),
}
bn1 = nn.BatchNorm1d(3)
y = bn1(det([5, 3], 45.0, 2.0))
y_l = bn1(det([2, 3, 4], 46.0))
out["batch_norm1d"] = {"out": flat(y), "out_l": flat(y_l), "running_mean": flat(bn1.running_mean), "running_var": flat(bn1.running_var)}

rms = nn.RMSNorm([6])
set_(rms.weight, det([6], 50.0, 0.5) + 1)
out["rms_norm"] = flat(rms(det([2, 6], 51.0, 0.01)))

# ---- Losses (input grads included)
def loss_case(fn, inp, target):
    inp = inp.clone().requires_grad_(True)
    value = fn(inp, target)
    value.backward()
    return {"value": float(value.detach()), "grad": flat(inp.grad)}


a = det([3, 4], 60.0, 2.0)
b = det([3, 4], 61.0, 2.0)
probs = torch.sigmoid(det([3, 4], 62.0, 3.0))
labels = (det([3, 4], 63.0) > 0).float()
logits = det([4, 5], 64.0, 2.0)
classes = torch.tensor([1, 4, 0, 2])
classes_ignored = torch.tensor([1, -100, 0, 2])
soft_targets = torch.softmax(det([4, 5], 65.0, 2.0), dim=1)
log_p = torch.log_softmax(det([3, 4], 66.0), dim=1)
q = torch.softmax(det([3, 4], 67.0), dim=1)
out["losses"] = {
    "l1": loss_case(F.l1_loss, a, b),
    "l1_sum": loss_case(lambda x, y: F.l1_loss(x, y, reduction="sum"), a, b),
    "smooth_l1": loss_case(F.smooth_l1_loss, a, b),
    "smooth_l1_beta_half": loss_case(lambda x, y: F.smooth_l1_loss(x, y, beta=0.5), a, b),
    "mse": loss_case(F.mse_loss, a, b),
    "bce": loss_case(F.binary_cross_entropy, probs, labels),
    "bce_logits": loss_case(F.binary_cross_entropy_with_logits, a, labels),
    "kl_div_batchmean": loss_case(lambda x, y: F.kl_div(x, y, reduction="batchmean"), log_p, q),
    "kl_div_mean_log_target": loss_case(lambda x, y: F.kl_div(x, y, reduction="mean", log_target=True), log_p, torch.log(q)),
    "cross_entropy": loss_case(F.cross_entropy, logits, classes),
    "cross_entropy_smoothing_ignore": loss_case(
        lambda x, y: F.cross_entropy(x, y, ignore_index=-100, label_smoothing=0.1), logits, classes_ignored
    ),
    "cross_entropy_probs_smoothing": loss_case(lambda x, y: F.cross_entropy(x, y, label_smoothing=0.2), logits, soft_targets),
    "nll_sum": loss_case(lambda x, y: F.nll_loss(torch.log_softmax(x, 1), y, reduction="sum"), logits, classes),
}

# ---- Pre-LN transformer blocks (PyTorch's TransformerEncoderLayer with norm_first=True)
def block(causal, seed):
    d, heads, ff = 8, 2, 16
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    set_(layer.self_attn.in_proj_weight, det([3 * d, d], seed, 0.4))
    set_(layer.self_attn.in_proj_bias, det([3 * d], seed + 1, 0.1))
    set_(layer.self_attn.out_proj.weight, det([d, d], seed + 2, 0.4))
    set_(layer.self_attn.out_proj.bias, det([d], seed + 3, 0.1))
    set_(layer.linear1.weight, det([ff, d], seed + 4, 0.4))
    set_(layer.linear1.bias, det([ff], seed + 5, 0.1))
    set_(layer.linear2.weight, det([d, ff], seed + 6, 0.3))
    set_(layer.linear2.bias, det([d], seed + 7, 0.1))
    set_(layer.norm1.weight, det([d], seed + 8, 0.2) + 1)
    set_(layer.norm1.bias, det([d], seed + 9, 0.2))
    set_(layer.norm2.weight, det([d], seed + 10, 0.2) + 1)
    set_(layer.norm2.bias, det([d], seed + 11, 0.2))
    x = det([2, 4, d], seed + 12).requires_grad_(True)
    mask = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1) if causal else None
    padding = None if causal else torch.tensor([[False, False, False, False], [False, False, True, True]])
    y = layer(x, src_mask=mask, src_key_padding_mask=padding, is_causal=False)
    (y * det([2, 4, d], seed + 13)).sum().backward()
    return {"out": flat(y), "x_grad": flat(x.grad), "fc1_weight_grad": flat(layer.linear1.weight.grad)}


out["encoder_block"] = block(False, 70.0)
out["decoder_block"] = block(True, 90.0)

print(json.dumps(out))
