#!/usr/bin/env bash
# How long the runtime keeps an edge instance: Spin's and `wasmtime serve`'s default
# (`--max-instance-reuse-count` 128 for WASIp3 components) against a longer reuse, alternating in
# rounds on the same build, each beside the trivial spin-sdk component (../shared/anchors/edge)
# under the same flags. Per configuration: the trivial component, long-tail searches and
# recommendations with the answer cache off, popular searches with it on; wrk at saturation on
# loopback for a bounded time, one Markdown row per phase (req/s, p50/p99, errors, server RSS).
# Usage: bash scripts/bench-instance-reuse.sh [SECONDS per phase, default 6] [ROUNDS, default 3]
#        [REUSE, default 4096] [RUNTIMES, default "wasmtime spin" (spin when on PATH)]
# Needs: wrk and wasmtime (scripts/setup.sh), the edge built (scripts/build.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
dur=${1:-6}
rounds=${2:-3}
reuse=${3:-4096}
runtimes=${4:-wasmtime spin}
conns=16
command -v wrk >/dev/null || die "wrk is not installed: bash scripts/setup.sh (or apt-get install wrk)"
[ -f "$SHOPAI_EDGE_WASM" ] || die "build the edge first: bash scripts/build.sh"
if [[ " $runtimes " == *" spin "* ]] && ! command -v spin >/dev/null; then
  echo "(spin not on PATH: Spin rounds skipped)" >&2
  runtimes=${runtimes//spin/}
fi
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
source scripts/soak-lib.sh
prepare anchor search recommend popular
[[ " $runtimes " == *" spin "* ]] && spin_wasm=$(spin_edge_wasm)
for r in $(seq "$rounds"); do
  for rt in $runtimes; do
    for flags in "" "--max-instance-reuse-count $reuse"; do
      export WASMTIME_SERVE_FLAGS="$flags" SPIN_UP_FLAGS="$flags"
      as_deployed "$rt"
      header "round $r, $rt, ${flags:-default reuse (128)}"
      trivial_then_ranked "$rt"
      start "$rt" "$wasm" "${shared[@]}"
      phase "ShopAI popular searches, POST (answer cache on)" popular
      stop
    done
  done
done
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
