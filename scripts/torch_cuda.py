"""The standard workloads (BENCHMARKS.md) in PyTorch eager on a CUDA GPU, for comparison
with `ignis-bench --device cuda` on the same card. Prints one line per workload:
`W1 eager_ms=...` (median of N timed calls after warm-up, each followed by a synchronize).

Usage: python3 scripts/torch_cuda.py [--iters N]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--iters", type=int, default=30)
args = ap.parse_args()
dev = torch.device("cuda")
torch.manual_seed(0)
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}", flush=True)


def randn(*shape):
    return torch.randn(*shape, device=dev)


def linear(fan_in, fan_out):
    return randn(fan_in, fan_out) / math.sqrt(fan_in), randn(fan_out) * 0.1


def gelu(x):
    return F.gelu(x, approximate="tanh")


def timed(name, fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{name} eager_ms={statistics.median(times):.4f}", flush=True)


x, w, b = randn(4096, 1024), randn(4096, 1024), randn(4096, 1024)
with torch.no_grad():
    timed("W1", lambda: gelu(x * w + b), args.iters)
    lw, lb = randn(1024) * 0.1 + 1.0, randn(1024) * 0.1
    timed("W2", lambda: F.layer_norm(x, (1024,), lw, lb, 1e-5), args.iters)
    timed("W3", lambda: torch.softmax(x, -1), args.iters)

mlp_x = randn(256, 1024)
layers = [linear(1024, 4096), linear(4096, 1024), linear(1024, 1024)]


def mlp(inp):
    h = gelu(inp @ layers[0][0] + layers[0][1])
    h = gelu(h @ layers[1][0] + layers[1][1])
    return h @ layers[2][0] + layers[2][1]


with torch.no_grad():
    timed("W4", lambda: mlp(mlp_x), args.iters)

for wt, bs in layers:
    wt.requires_grad_(True)
    bs.requires_grad_(True)
target = randn(256, 1024)


def train_step():
    loss = F.mse_loss(mlp(mlp_x), target)
    for p in [t for pair in layers for t in pair]:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in [t for pair in layers for t in pair]:
            p -= 1e-3 * p.grad
    return loss


timed("W5", train_step, args.iters)

d, heads, seq, batch = 256, 4, 128, 8
block = torch.nn.ModuleDict({
    "ln1": torch.nn.LayerNorm(d), "qkv": torch.nn.Linear(d, 3 * d), "proj": torch.nn.Linear(d, d),
    "ln2": torch.nn.LayerNorm(d), "fc": torch.nn.Linear(d, 4 * d), "out": torch.nn.Linear(4 * d, d),
}).to(dev)
bx = randn(batch, seq, d)
mask = torch.triu(torch.ones(seq, seq, device=dev, dtype=torch.bool), 1)


def transformer(inp):
    h = block["ln1"](inp)
    q, k, v = block["qkv"](h).split(d, dim=-1)
    q, k, v = (t.view(batch, seq, heads, d // heads).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) / math.sqrt(d // heads)
    att = att.masked_fill(mask, float("-inf")).softmax(-1)
    y = (att @ v).transpose(1, 2).reshape(batch, seq, d)
    inp = inp + block["proj"](y)
    return inp + block["out"](gelu(block["fc"](block["ln2"](inp))))


with torch.no_grad():
    timed("W6f", lambda: transformer(bx), args.iters)


def transformer_step():
    block.zero_grad()
    loss = transformer(bx).square().mean()
    loss.backward()
    return loss


timed("W6b", transformer_step, args.iters)

tiny = randn(64)


def tiny_chain():
    t = tiny
    for i in range(100):
        t = t * 1.0001 + 0.0001 if i % 2 == 0 else torch.tanh(t)
    return t


with torch.no_grad():
    timed("W7", tiny_chain, max(args.iters, 300))
