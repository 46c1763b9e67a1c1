#!/usr/bin/env bash
# /search with the embeddings endpoint hanging (issue 12): the ML-100k bundle embedded through an
# OpenAI-compatible endpoint (tests/e2e/fake_openai.py, 16-d deterministic vectors), then served
# under `wasmtime serve` and (when `spin` is on PATH) real Spin, never-repeated searches from
# CONNECTIONS keep-alive connections (scripts/bench/hanging.mjs, each answer timed on its own),
# answer cache off:
#   lexical   no endpoint configured: every answer lexical (the reference time);
#   hanging   the endpoint accepts and never answers in time (sleeps 3 s): calls cost the budget
#             (SHOPAI_EMBED_TIMEOUT_MS, 300) until the breaker opens;
#   after     the same server, the next phase: breakers open, one trial call per cool-down (10 s).
# Instances share the open breaker: under wasmtime through a writable folder
# (SHOPAI_BUNDLE_CACHE_DIR), under Spin through its key-value store — Spin runs the component as
# `spin build` makes it, with the `spin` feature (built here into its own target dir).
# Bars: hanging p99 ≤ budget + lexical p99; after p99 ≤ 2 × lexical p99.
# Usage: bash scripts/bench-hanging.sh [SECONDS per phase, default 15] [CONNECTIONS, default 16]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
dur=${1:-15}
conns=${2:-16}
[ -x "$SHOPAI_BIN" ] && [ -f "$SHOPAI_EDGE_WASM" ] || die "build first: bash scripts/build.sh"
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP_OUT:-}" ] && echo "kept $out" || rm -rf "$out"; }
trap cleanup EXIT
source scripts/soak-lib.sh

# fake_endpoint FAULTS -> sets $endpoint (…/v1)
fake_endpoint() {
  local p; p=$(free_port)
  "$SHOPAI_PYTHON" tests/e2e/fake_openai.py "$p" "$1" >/dev/null 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$p/stats" && break; sleep 0.1; done
  endpoint="http://127.0.0.1:$p/v1"
}

fake_endpoint ""
cat >"$out/shopai.toml" <<TOML
[openai]
base_url = "$endpoint"
[embeddings]
provider = "openai"
model = "fake-embed"
dimensions = 16
usd_per_million_tokens = 0.0
[paths]
data_dir = "$out/data-build"
TOML
"$SHOPAI_BIN" --config "$out/shopai.toml" build --quiet --ratings data/ml-100k/ml-100k.inter \
  --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" >/dev/null
fake_endpoint "timeout*"
hanging=$endpoint
drive() { node scripts/bench/hanging.mjs "$url" "$dur" "$conns" "$1"; }
if command -v spin >/dev/null; then
  spin_wasm=$(spin_edge_wasm)
fi

runtimes=(wasmtime)
command -v spin >/dev/null && runtimes+=(spin) || echo "(spin not on PATH: Spin rows skipped)" >&2
for rt in "${runtimes[@]}"; do
  wasm=$SHOPAI_EDGE_WASM shared=(SHOPAI_BUNDLE_CACHE_DIR=/data/shared)
  [ "$rt" = spin ] && wasm=$spin_wasm shared=()
  start "$rt" "$wasm" SHOPAI_ANSWER_CACHE_ENTRIES=0
  drive "$rt lexical (no endpoint configured)"
  stop
  rm -rf "$out/shared" "$out/.spin"; mkdir -p "$out/shared"
  start "$rt" "$wasm" SHOPAI_ANSWER_CACHE_ENTRIES=0 "SHOPAI_EMBEDDINGS_URL=$hanging" "${shared[@]}"
  drive "$rt endpoint hanging, breakers closed at the start"
  drive "$rt endpoint hanging, the next ${dur} s"
  stop
done
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
