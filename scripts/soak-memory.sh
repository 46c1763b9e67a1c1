#!/usr/bin/env bash
# Is the edge's memory flat under load? One long phase of the realistic mix (scripts/soak-mix.py
# `mixed`) at saturation, set up as scripts/soak.sh deploys it, with the serving process tree's RSS
# sampled every second and printed once a minute, then the phase's table row. WASMTIME_SERVE_FLAGS /
# SPIN_UP_FLAGS (scripts/soak-lib.sh) measure a deployment setting, e.g. a longer instance reuse.
# Usage: bash scripts/soak-memory.sh [RUNTIME wasmtime|spin, default spin] [SECONDS, default 300]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
rt=${1:-spin}
dur=${2:-300}
conns=16
command -v wrk >/dev/null || die "wrk is not installed: bash scripts/setup.sh (or apt-get install wrk)"
[ "$rt" = spin ] && ! command -v spin >/dev/null && die "spin is not on PATH (../shared/tools/README.md)"
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
"$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
python3 scripts/soak-mix.py mixed data/ml-100k/ml-100k.item data/ml-100k/ml-100k.inter "$out/mixed.lua"
source "$(dirname "$0")/soak-lib.sh"
if [ "$rt" = spin ]; then spin_wasm=$(spin_edge_wasm); fi
as_deployed "$rt"
start "$rt" "$wasm" "${shared[@]}"
(
  s=0
  while kill -0 "$pid" 2>/dev/null; do
    [ $((s % 60)) -eq 0 ] && echo "  t=${s}s RSS $(( $(tree_rss "$pid") / 1024 )) MiB" >&2
    s=$((s + 1)); sleep 1
  done
) &
sampler=$!
header "$rt, ${dur} s"
phase "ShopAI realistic mix incl. 5% malformed (answer cache on)" mixed
stop
wait "$sampler" 2>/dev/null || true
echo "Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
