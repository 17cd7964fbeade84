"""Weight files for tests/tests/weights.rs, written by PyTorch and the Python safetensors package.

    python3 tests/reference/safetensors_reference.py write   # -> torch_weights.safetensors
    python3 tests/reference/safetensors_reference.py check FILE   # reads a file ignis wrote

Every tensor is `arange(n)` reshaped, scaled per dtype, so the Rust test can state the
expected values without reading them from this file.
"""

import sys

import torch
from safetensors.torch import load_file, save_file


def tensors():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(12, dtype=torch.float32).reshape(4, 3) * 0.5)
        model[0].bias.copy_(torch.arange(4, dtype=torch.float32) - 1.5)
        model[2].weight.copy_(torch.arange(8, dtype=torch.float32).reshape(2, 4) * -0.25)
        model[2].bias.copy_(torch.tensor([0.125, -0.125]))
    out = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out["extra.f64"] = torch.arange(6, dtype=torch.float64).reshape(2, 3) / 3
    out["extra.f16"] = (torch.arange(5, dtype=torch.float32) * 0.25).to(torch.float16)
    out["extra.bf16"] = (torch.arange(5, dtype=torch.float32) * -2).to(torch.bfloat16)
    out["extra.i64"] = torch.arange(4, dtype=torch.int64) * 1_000_000_000_000
    out["extra.i32"] = torch.arange(4, dtype=torch.int32) - 2
    out["extra.u8"] = torch.arange(3, dtype=torch.uint8) * 100
    out["extra.bool"] = torch.tensor([True, False, True])
    out["extra.scalar"] = torch.tensor(7.5)
    return out


if sys.argv[1] == "write":
    save_file(tensors(), "tests/reference/torch_weights.safetensors", metadata={"written_by": "torch"})
elif sys.argv[1] == "check":
    loaded = load_file(sys.argv[2])
    for name, expected in tensors().items():
        got = loaded[name]
        assert got.dtype == expected.dtype, (name, got.dtype, expected.dtype)
        assert torch.equal(got, expected), (name, got, expected)
    print(f"{sys.argv[2]}: {len(loaded)} tensors match")
