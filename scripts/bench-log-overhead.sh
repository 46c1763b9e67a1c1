#!/usr/bin/env bash
# The request log line's cost at the edge (issue 11: < 5% of reused-instance latency): the ML-100k
# bundle served twice by `wasmtime serve`, SHOPAI_LOG_REQUESTS on (stderr appended to a file) and
# off, one keep-alive client, alternating rounds (scripts/bench/log_overhead.mjs).
# Usage: bash scripts/bench-log-overhead.sh [ROUNDS, default 7] [REQUESTS per round, default 2000]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
[ -x "$SHOPAI_BIN" ] && [ -f "$SHOPAI_EDGE_WASM" ] || bash scripts/build.sh >/dev/null 2>&1
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
# With the answer cache (repeated requests are cache hits: the cheapest answers), then without it
# (every request ranked).
node scripts/bench/log_overhead.mjs "$SHOPAI_EDGE_WASM" "$out" "$out" "${1:-7}" "${2:-2000}"
EDGE_ENV="SHOPAI_ANSWER_CACHE_ENTRIES=0" node scripts/bench/log_overhead.mjs "$SHOPAI_EDGE_WASM" "$out" "$out" "${1:-7}" "${2:-2000}"
echo "request lines written with the log on: $(grep -c '"route"' "$out/log-on.log"); with it off: $(grep -c '"route"' "$out/log-off.log" || true)"
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
