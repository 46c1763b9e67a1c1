#!/usr/bin/env bash
# The one command that runs every test (what .ci/run calls):
# formatting, clippy -D warnings, unit tests, wasm builds, and the cross-runtime end-to-end tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
# The suite's edge is the component without a built-in bundle (the test that builds one uses its
# own target folder).
unset SHOPAI_EDGE_BUNDLE
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "no import cycle between the batch crate's modules"
python3 scripts/check-batch-imports.py

step "clippy -D warnings (native, and the wasm-only code paths)"
cargo clippy --workspace --all-targets --release -- -D warnings
cargo clippy -p shopai-edge --target wasm32-wasip2 --release -- -D warnings
cargo clippy -p shopai-edge --target wasm32-wasip2 --release --features spin -- -D warnings
cargo clippy -p shopai-wasm --target wasm32-unknown-unknown --release -- -D warnings

step "core builds for both wasm targets with default features off"
cargo check -p shopai-core --target wasm32-unknown-unknown --release
cargo check -p shopai-core --target wasm32-wasip2 --release

step "core's unit tests on a 32-bit target (wasm32-wasip2 under wasmtime: checked size arithmetic)"
CARGO_TARGET_WASM32_WASIP2_RUNNER="wasmtime run" cargo test -p shopai-core --target wasm32-wasip2 --release --lib

step "unit tests"
cargo test --workspace --release

bash scripts/build.sh

bash scripts/lint-deploy.sh

step "end-to-end tests (native, Node, edge under wasmtime serve, Chromium)"
cd tests && node --test --test-concurrency=1 e2e/
