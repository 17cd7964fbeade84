#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run), after `scripts/setup.sh --gpu`.
#
# 1. every crate on the CPU build (no LLVM needed);
# 2. with the `gpu` feature: the GPU code generator (MLIR lowered to PTX for sm_80 and
#    sm_90, checked by ptxas, and to AMDGPU code objects for gfx90a and gfx942, checked by
#    llvm-mc and ld.lld; the GPU code run on the host against the CPU code), the GPU
#    runtime, eager ops, autograd and compiled functions on a GPU, and the workloads on a
#    GPU and written for both GPUs by `ignis-bench --codegen-only`. Without a GPU the
#    device is the host emulation (IGNIS_TEST_GPU=cuda runs them on CUDA device 0).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --locked
cargo test --locked -p ignis-kernels-gen -p ignis-runtime --features gpu --lib
cargo test --locked -p ignis-tests --features gpu --test gpu
cargo test --locked -p ignis-bench --features gpu --test gpu --test codegen
