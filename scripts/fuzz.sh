#!/usr/bin/env bash
# Fuzz the readers and the bundle loader with cargo-fuzz (libFuzzer; needs a nightly toolchain).
# Usage: bash scripts/fuzz.sh [SECONDS per target, default 60]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
secs=${1:-60}
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --root "$SHOPAI_TOOLS"
for target in read_ratings read_catalog bundle_load; do
  step "fuzzing $target for ${secs}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -max_len=4096
done
