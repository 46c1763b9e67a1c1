#!/usr/bin/env bash
# The request log line's cost at the edge (issue 11: < 5% of reused-instance latency): the ML-100k
# bundle served twice by `wasmtime serve`, SHOPAI_LOG_REQUESTS on (stderr appended to a file) and
# off, one keep-alive connection each, requests interleaved one by one (scripts/bench/log_overhead.mjs).
# Usage: bash scripts/bench-log-overhead.sh [BLOCKS, default 7] [REQUESTS per block and server, default 2000]
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
# Under `wasmtime serve`, then under real Spin when it is on PATH (scripts/setup.sh installs it
# from ../shared/tools when that is present).
runtimes=(wasmtime)
command -v spin >/dev/null && runtimes+=(spin) || echo "(spin not on PATH: Spin rows skipped)" >&2
for rt in "${runtimes[@]}"; do
  rm -rf "$out"/log-*
  RUNTIME=$rt node scripts/bench/log_overhead.mjs "$SHOPAI_EDGE_WASM" "$out" "$out" "${1:-7}" "${2:-2000}"
  RUNTIME=$rt EDGE_ENV="SHOPAI_ANSWER_CACHE_ENTRIES=0" node scripts/bench/log_overhead.mjs "$SHOPAI_EDGE_WASM" "$out" "$out" "${1:-7}" "${2:-2000}"
  # wasmtime serve: the server's stderr; Spin (--quiet): its per-component log file.
  lines() { cat "$out/$1.log" "$out/$1/.spin/logs/c_stderr.txt" 2>/dev/null | grep -c '"route"' || true; }
  echo "$rt: request lines written with the log on: $(lines log-on); with it off: $(lines log-off)"
done
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
