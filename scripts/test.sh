#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run), after `scripts/setup.sh --gpu`.
#
# 1. every crate on the CPU build (no LLVM needed);
# 2. the GPU code generation with the `gpu` feature: MLIR lowered to PTX for sm_80 and
#    sm_90 (checked by ptxas) and to AMDGPU code objects for gfx90a and gfx942 (llvm-mc and
#    ld.lld), the GPU code run on the host against the CPU code, and every workload written
#    for both GPUs by `ignis-bench --codegen-only`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --locked
cargo test --locked -p ignis-kernels-gen --features gpu --lib
cargo test --locked -p ignis-bench --features gpu --test codegen
