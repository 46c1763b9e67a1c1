#!/usr/bin/env bash
# Build every artifact: the native CLI, the npm package (crates/wasm/pkg) and the edge component.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"

step "native CLI (release)"
cargo build --release -p shopai-batch

step "npm package (wasm-pack, --target web)"
# Cargo profile release-npm (Cargo.toml): release plus whole-program LTO, for the download size.
wasm-pack --quiet build crates/wasm --target web --profile release-npm --out-dir pkg --no-pack 2>&1 | grep -v "^\[INFO\]" || true
[ -f crates/wasm/pkg/shopai_wasm_bg.wasm ] || die "wasm-pack produced no package"
if command -v wasm-opt >/dev/null 2>&1; then
  wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --strip-debug --strip-producers crates/wasm/pkg/shopai_wasm_bg.wasm -o crates/wasm/pkg/shopai_wasm_bg.wasm
fi
# wasm-pack's --no-pack skips package.json; write ours (the source of truth is crates/wasm/package.json).
cp crates/wasm/package.json crates/wasm/README.md crates/wasm/pkg/
# The entry points (conditional exports: Node reads the .wasm from disk; browsers and bundlers fetch it).
rm -rf crates/wasm/pkg/js && cp -r crates/wasm/js crates/wasm/pkg/js

step "edge component (wasm32-wasip2)"
cargo build --release -p shopai-edge --target wasm32-wasip2
ls -l "$SHOPAI_BIN" crates/wasm/pkg/shopai_wasm_bg.wasm "$SHOPAI_EDGE_WASM" | awk '{print $5, $9}'
