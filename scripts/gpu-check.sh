#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and its driver: builds with the `gpu`
# feature, runs the GPU tests on the device (eager and compiled ops on CUDA against the
# CPU, through PTX that this build generated and the driver loaded), the whole test suite,
# the workloads with `ignis-bench --device cuda` and PyTorch eager on the same card, and
# writes every log to $OUT (default: gpu-check-logs/).
#
# It needs what `scripts/setup.sh --gpu` installs (LLVM/MLIR 22 and ptxas); on a machine
# without network access they must be there already. Steps run in order and each one's
# exit status is recorded in $OUT/summary.txt; a failed step does not stop the later ones.
#
#   scripts/gpu-check.sh [--quick]    --quick skips the CPU test suite
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-logs}
mkdir -p "$out"
quick=false
[ "${1:-}" = "--quick" ] && quick=true
summary="$out/summary.txt"
: > "$summary"

step() {
    local name=$1
    shift
    local start=$SECONDS
    "$@" > "$out/$name.log" 2>&1
    local status=$?
    echo "$name: exit $status, $((SECONDS - start)) s" | tee -a "$summary"
    return 0
}

step nvidia-smi nvidia-smi
if ! dpkg -s llvm-22-dev libmlir-22-dev >/dev/null 2>&1 || [ ! -x .tools/cuda/bin/ptxas ]; then
    step setup bash scripts/setup.sh --gpu
fi
export IGNIS_TEST_GPU=cuda
step build cargo build --release --locked -p ignis-bench --features gpu
step test-gpu-lib cargo test --locked -p ignis-runtime -p ignis-kernels-gen --features gpu --lib
step test-gpu-ops cargo test --locked -p ignis-tests --features gpu --test gpu
step test-gpu-bench cargo test --locked -p ignis-bench --features gpu --test gpu --test codegen
step bench-cuda ./target/release/ignis-bench --device cuda --json "$out/bench-cuda.json"
if python3 -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    step torch-cuda python3 scripts/torch_cuda.py
else
    echo "torch-cuda: skipped, no PyTorch with CUDA on this machine" | tee -a "$summary"
fi
if ! $quick; then
    step test-suite cargo test --locked --workspace --all-targets
fi
cat "$summary"
