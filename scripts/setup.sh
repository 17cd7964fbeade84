#!/usr/bin/env bash
# Prepares a Debian machine that has a Rust toolchain for building and testing ignis.
# Idempotent and quiet: it prints only what it had to do or what is missing.
set -euo pipefail

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

# The CPU build needs nothing beyond Rust and a C toolchain for build scripts.
if ! command -v cc >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing a C compiler (build-essential)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >/dev/null
    else
        echo "setup: a C compiler (cc) is needed; install build-essential" >&2
        exit 1
    fi
fi

# Fetch every dependency up front so that the build itself needs no network.
cargo fetch --locked --quiet
