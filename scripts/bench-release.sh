#!/usr/bin/env bash
# Release-loop figures (docs/BENCHMARKS.md): edge fresh-instance first answer with a published
# bundle vs the mounted file, edge pickup time of a newly published version, and the bundle bytes
# a returning browser downloads when the version did not change. One JSON line per figure.
# Usage: bash scripts/bench-release.sh   (ITEMS=5000 N=8 by default)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
[ -x "$SHOPAI_BIN" ] && [ -f "$SHOPAI_EDGE_WASM" ] && [ -f crates/wasm/pkg/js/web.js ] || bash scripts/build.sh >/dev/null
node scripts/bench/release.mjs
