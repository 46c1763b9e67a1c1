#!/usr/bin/env bash
# Saturation soak of the edge beside the trivial spin-sdk component (../shared/anchors/edge), in
# one run, under `wasmtime serve` and (when `spin` is on PATH) real Spin: for each traffic mix of
# scripts/soak-mix.py, wrk (Debian) at saturation on loopback for a bounded time, then req/s,
# p50/p99, socket errors, 5xx/4xx and the server's memory (RSS, sampled every second) at the start,
# end and peak of the phase. ML-100k bundle with the hashing embedder (no upstream calls). Set up
# as deployed: instances share answers through SHOPAI_BUNDLE_CACHE_DIR (wasmtime) or the key-value
# store (Spin, the `spin`-feature build).
# Usage: bash scripts/soak.sh [SECONDS per phase, default 20] [CONNECTIONS, default 16]
# Needs: wrk and wasmtime (scripts/setup.sh installs both), the edge built (scripts/build.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
dur=${1:-20}
conns=${2:-16}
command -v wrk >/dev/null || die "wrk is not installed: bash scripts/setup.sh (or apt-get install wrk)"
[ -f "$SHOPAI_EDGE_WASM" ] || die "build the edge first: bash scripts/build.sh"
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
source "$(dirname "$0")/soak-lib.sh"
prepare anchor search recommend popular popular-get mixed
# As deployed: under Spin the component built with the `spin` feature (the key-value store is the
# store instances share); under wasmtime a shared writable folder (SHOPAI_BUNDLE_CACHE_DIR).
if command -v spin >/dev/null; then
  spin_wasm=$(spin_edge_wasm)
fi

runtimes=(wasmtime)
command -v spin >/dev/null && runtimes+=(spin) || echo "(spin not on PATH: Spin rows skipped)" >&2
for rt in "${runtimes[@]}"; do
  as_deployed "$rt"
  header "$rt"
  trivial_then_ranked "$rt"
  start "$rt" "$wasm" "${shared[@]}"
  phase "ShopAI /search, long-tail (answer cache on)" search
  phase "ShopAI /recommendations, users + sessions (answer cache on)" recommend
  phase "ShopAI popular searches, POST (answer cache on)" popular
  phase "ShopAI popular searches, GET /search?q= (answer cache on)" popular-get
  phase "ShopAI realistic mix incl. 5% malformed (answer cache on)" mixed
  stop
  start "$rt" "$anchor"; phase "trivial component, GET / (again, drift check)" anchor; stop
done
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
