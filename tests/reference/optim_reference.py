"""Reference values for tests/tests/optim.rs, recorded with real PyTorch.

    python tests/reference/optim_reference.py > tests/tests/optim_reference/mod.rs
    cargo fmt

Prints a Rust module: parameter trajectories of every optimizer configuration (float32
and float64), learning-rate sequences of every scheduler, and gradient clipping results.
Every optimizer run starts from P0 and, before each step, sets the gradient to
A * p + B (elementwise; the gradient of a diagonal quadratic), computed in the
parameter's dtype so that both libraries see the same gradient bits.
"""

import numpy as np
import torch
from torch.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    SequentialLR,
    StepLR,
)

torch.set_num_threads(1)

# Exactly representable in float32, so both dtypes start from the same numbers.
P0 = [0.5, -1.25, 2.0, -0.375, 0.75, -2.5]
A = [1.0, 2.0, 0.5, 3.0, 0.25, 1.5]
B = [0.125, -0.25, 0.375, -0.5, 0.625, -0.75]
STEPS = 5

# name -> (constructor, what the Rust test builds)
OPTIMIZERS = {
    "sgd": lambda p: SGD(p, lr=0.1),
    "sgd_momentum": lambda p: SGD(p, lr=0.1, momentum=0.9),
    "sgd_dampening_weight_decay": lambda p: SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1),
    "sgd_nesterov_weight_decay": lambda p: SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "sgd_maximize": lambda p: SGD(p, lr=0.02, momentum=0.5, maximize=True),
    "adam": lambda p: Adam(p, lr=0.1),
    "adam_weight_decay_amsgrad": lambda p: Adam(p, lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True),
    "adam_amsgrad": lambda p: Adam(p, lr=0.1, betas=(0.9, 0.5), amsgrad=True),
    "adam_maximize": lambda p: Adam(p, lr=0.01, eps=1e-3, maximize=True),
    "adamw": lambda p: AdamW(p, lr=0.1),
    "adamw_amsgrad": lambda p: AdamW(p, lr=0.05, betas=(0.9, 0.5), weight_decay=0.5, amsgrad=True),
    "rmsprop": lambda p: RMSprop(p, lr=0.01),
    "rmsprop_momentum": lambda p: RMSprop(p, lr=0.01, momentum=0.5),
    "rmsprop_centered": lambda p: RMSprop(p, lr=0.05, centered=True),
    "rmsprop_centered_momentum_weight_decay": lambda p: RMSprop(
        p, lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.1
    ),
    "adagrad": lambda p: Adagrad(p, lr=0.1),
    "adagrad_lr_decay_weight_decay": lambda p: Adagrad(
        p, lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-6
    ),
    "adagrad_maximize": lambda p: Adagrad(p, lr=0.05, maximize=True),
}


def f32(x):
    return str(np.float32(x))


def f64(x):
    return repr(float(x))


def trajectory(make, dtype):
    p = torch.tensor(P0, dtype=dtype).reshape(2, 3).requires_grad_()
    a = torch.tensor(A, dtype=dtype).reshape(2, 3)
    b = torch.tensor(B, dtype=dtype).reshape(2, 3)
    opt = make([p])
    rows = []
    for _ in range(STEPS):
        opt.zero_grad()
        p.grad = p.detach() * a + b
        opt.step()
        rows.append(p.detach().flatten().tolist())
    return rows


def rust_rows(rows, fmt):
    return "&[\n" + "".join("        [" + ", ".join(fmt(v) for v in row) + "],\n" for row in rows) + "    ]"


def optimizers():
    for name, make in OPTIMIZERS.items():
        print(f"pub const {name.upper()}: Case = Case {{")
        print(f"    f32: {rust_rows(trajectory(make, torch.float32), f32)},")
        print(f"    f64: {rust_rows(trajectory(make, torch.float64), f64)},")
        print("};")
        print()


def groups():
    """Two groups of one Adam optimizer with different options, float32, 3 steps."""
    p = torch.tensor(P0[:3], dtype=torch.float32).requires_grad_()
    q = torch.tensor(P0[3:], dtype=torch.float32).requires_grad_()
    opt = Adam([{"params": [p]}, {"params": [q], "lr": 0.01, "weight_decay": 0.1, "amsgrad": True}], lr=0.1)
    a = torch.tensor(A, dtype=torch.float32)
    b = torch.tensor(B, dtype=torch.float32)
    for _ in range(3):
        p.grad = p.detach() * a[:3] + b[:3]
        q.grad = q.detach() * a[3:] + b[3:]
        opt.step()
    values = p.detach().tolist() + q.detach().tolist()
    print("/// Adam, group 0 `lr=0.1`, group 1 `lr=0.01, weight_decay=0.1, amsgrad`: both after 3 steps.")
    print(f"pub const ADAM_GROUPS: [f32; 6] = [{', '.join(f32(v) for v in values)}];")
    print()


def regression():
    """A linear model trained with real backward passes: SGD with momentum, 3 steps."""
    x = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [-1.5, 0.25, 1.0], [2.0, 1.0, 0.5]])
    y = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    w = torch.tensor([[0.1], [-0.2], [0.3]], requires_grad=True)
    bias = torch.tensor([0.05], requires_grad=True)
    opt = SGD([w, bias], lr=0.05, momentum=0.9)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = ((x @ w + bias - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print("/// SGD(lr=0.05, momentum=0.9) on mean((x @ w + b - y)^2): losses of 3 steps, then w and b.")
    print(f"pub const REGRESSION_LOSSES: [f32; 3] = [{', '.join(f32(v) for v in losses)}];")
    print(f"pub const REGRESSION_W: [f32; 3] = [{', '.join(f32(v) for v in w.detach().flatten().tolist())}];")
    print(f"pub const REGRESSION_B: f32 = {f32(bias.item())};")
    print()


SCHEDULER_STEPS = 12
BASE_LRS = [0.1, 0.05]


def schedule(make, optimizer="sgd"):
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, BASE_LRS)]
    opt = SGD(groups, lr=0.1) if optimizer == "sgd" else Adam(groups)
    sched = make(opt)
    lrs = [sched.get_last_lr()]
    momenta = [opt.param_groups[0]["momentum" if optimizer == "sgd" else "betas"]]
    for _ in range(SCHEDULER_STEPS):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        momenta.append(opt.param_groups[0]["momentum" if optimizer == "sgd" else "betas"])
    if optimizer == "adam":
        momenta = [m[0] for m in momenta]
    return lrs, momenta


SCHEDULERS = {
    "step_lr": lambda o: StepLR(o, step_size=3, gamma=0.5),
    "multi_step_lr": lambda o: MultiStepLR(o, milestones=[5, 2, 9], gamma=0.1),
    "exponential_lr": lambda o: ExponentialLR(o, gamma=0.9),
    "cosine_annealing_lr": lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "linear_lr_defaults": lambda o: LinearLR(o),
    "linear_lr_decreasing": lambda o: LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=4),
    "warmup_then_cosine": lambda o: SequentialLR(
        o, [LinearLR(o, start_factor=0.1, total_iters=3), CosineAnnealingLR(o, T_max=8)], milestones=[3]
    ),
    "warmup_then_exponential": lambda o: SequentialLR(
        o, [LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), ExponentialLR(o, gamma=0.8)],
        milestones=[4],
    ),
}


def schedulers():
    print(f"/// Learning rates of groups with base lrs {BASE_LRS}: after construction, then after each step.")
    for name, make in SCHEDULERS.items():
        lrs, _ = schedule(make)
        body = "".join(f"    [{', '.join(f64(v) for v in row)}],\n" for row in lrs)
        print(f"pub const {name.upper()}: [[f64; 2]; {len(lrs)}] = [\n{body}];")
    one_cycle = {
        "one_cycle_cos": (lambda o: OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=SCHEDULER_STEPS), "sgd"),
        "one_cycle_linear_three_phase": (
            lambda o: OneCycleLR(
                o, max_lr=0.2, total_steps=SCHEDULER_STEPS, pct_start=0.25, anneal_strategy="linear", three_phase=True
            ),
            "adam",
        ),
    }
    for name, (make, optimizer) in one_cycle.items():
        lrs, momenta = schedule(make, optimizer)
        body = "".join(f"    [{', '.join(f64(v) for v in row)}],\n" for row in lrs)
        print(f"pub const {name.upper()}: [[f64; 2]; {len(lrs)}] = [\n{body}];")
        print(f"pub const {name.upper()}_MOMENTUM: [f64; {len(momenta)}] = [{', '.join(f64(m) for m in momenta)}];")
    print()


G1 = [0.5, -1.5, 2.0, 0.25, -0.75, 1.0]
G2 = [3.0, -0.5, 0.125, -2.0]


def clip_params():
    p1 = torch.zeros(2, 3, requires_grad=True)
    p2 = torch.zeros(4, requires_grad=True)
    p3 = torch.zeros(5, requires_grad=True)  # no gradient: ignored
    p1.grad = torch.tensor(G1).reshape(2, 3)
    p2.grad = torch.tensor(G2)
    return [p1, p2, p3]


def clipping():
    print(f"pub const CLIP_G1: [f32; 6] = [{', '.join(f32(v) for v in G1)}];")
    print(f"pub const CLIP_G2: [f32; 4] = [{', '.join(f32(v) for v in G2)}];")
    print("/// clip_grad_norm_: (max_norm, norm_type, total norm, clipped g1, clipped g2).")
    print("pub type ClipNormCase = (f64, f64, f64, [f32; 6], [f32; 4]);")
    print("pub const CLIP_NORM: &[ClipNormCase] = &[")
    for max_norm, norm_type in [(1.0, 2.0), (0.5, float("inf")), (2.0, 1.5), (100.0, 2.0), (1.0, 1.0)]:
        params = clip_params()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type).item()
        g1 = ", ".join(f32(v) for v in params[0].grad.flatten().tolist())
        g2 = ", ".join(f32(v) for v in params[1].grad.tolist())
        norm = "f64::INFINITY" if norm_type == float("inf") else f64(norm_type)
        print(f"    ({f64(max_norm)}, {norm}, {f64(total)}, [{g1}], [{g2}]),")
    print("];")
    params = clip_params()
    torch.nn.utils.clip_grad_value_(params, 0.6)
    g1 = ", ".join(f32(v) for v in params[0].grad.flatten().tolist())
    g2 = ", ".join(f32(v) for v in params[1].grad.tolist())
    print("/// clip_grad_value_(0.6): clipped g1, g2.")
    print(f"pub const CLIP_VALUE: ([f32; 6], [f32; 4]) = ([{g1}], [{g2}]);")


def main():
    print(f"//! Generated by tests/reference/optim_reference.py with PyTorch {torch.__version__}; do not edit.")
    print()
    print("#![allow(clippy::excessive_precision, clippy::approx_constant)]")
    print()
    print("/// Parameter values after each step, row-major `[2, 3]`.")
    print("pub struct Case {")
    print("    pub f32: &'static [[f32; 6]],")
    print("    pub f64: &'static [[f64; 6]],")
    print("}")
    print()
    print(f"pub const P0: [f64; 6] = [{', '.join(f64(v) for v in P0)}];")
    print(f"pub const A: [f64; 6] = [{', '.join(f64(v) for v in A)}];")
    print(f"pub const B: [f64; 6] = [{', '.join(f64(v) for v in B)}];")
    print()
    optimizers()
    groups()
    regression()
    schedulers()
    clipping()


if __name__ == "__main__":
    main()
