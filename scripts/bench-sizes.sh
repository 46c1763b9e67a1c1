#!/usr/bin/env bash
# Sizes and edge cold-start, measured in one run:
#  - bundle bytes for the ML-100k demo, npm .wasm bytes raw and gzipped, edge component bytes;
#  - time for a fresh edge instance to answer its first request (wasmtime serve drops an idle
#    instance after 1 s, so requests 1.5 s apart each hit a fresh instance), next to back-to-back
#    (reused instance) requests, and — when ../shared/anchors/edge exists — the bare spin-sdk
#    component that only returns {"ok":true}, measured the same way, as a ratio.
# Usage: bash scripts/bench-sizes.sh [N fresh requests, default 15]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
n=${1:-15}
bash scripts/build.sh >/dev/null 2>&1
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
wasm=crates/wasm/pkg/shopai_wasm_bg.wasm
printf '| artifact | bytes |\n|---|---:|\n'
printf '| ML-100k demo bundle | %s |\n' "$(stat -c %s "$out/bundle.bin")"
printf '| npm .wasm (raw) | %s |\n' "$(stat -c %s "$wasm")"
printf '| npm .wasm (gzip -9) | %s |\n' "$(gzip -9 -c "$wasm" | wc -c)"
printf '| npm .js glue (raw) | %s |\n' "$(stat -c %s crates/wasm/pkg/shopai_wasm.js)"
printf '| edge component .wasm | %s |\n' "$(stat -c %s "$SHOPAI_EDGE_WASM")"

# measure NAME WASM METHOD PATH BODY -> prints fresh/warm medians in ms
measure() {
  local name=$1 comp=$2 method=$3 path=$4 body=$5 port
  port=$(free_port)
  wasmtime serve -Scli -Sp3 -Wcomponent-model-async --addr "127.0.0.1:$port" --dir "$out::/data" \
    --env SHOPAI_BUNDLE_PATH=/data/bundle.bin "$comp" >"$out/edge-$port.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done
  sleep 1.5
  local fresh=() warm=()
  for _ in $(seq "$n"); do
    fresh+=("$(curl -s -o /dev/null -w '%{time_total}' -X "$method" "http://127.0.0.1:$port$path" -d "$body")")
    sleep 1.5
  done
  for _ in $(seq "$n"); do
    warm+=("$(curl -s -o /dev/null -w '%{time_total}' -X "$method" "http://127.0.0.1:$port$path" -d "$body")")
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$name" "${fresh[*]}" "${warm[*]}" <<'PY'
import statistics, sys
name, fresh, warm = sys.argv[1], [float(x) * 1000 for x in sys.argv[2].split()], [float(x) * 1000 for x in sys.argv[3].split()]
print(f"| {name} | {statistics.median(fresh):.2f} | {min(fresh):.2f} | {statistics.median(warm):.2f} |")
PY
}
echo
echo "Edge round trip over loopback (curl time_total, ms; $n requests each):"
echo
printf '| component, request | fresh instance median | fresh min | reused instance median |\n|---|---:|---:|---:|\n'
measure "shopai-edge, POST /search (ML-100k bundle)" "$SHOPAI_EDGE_WASM" POST /search '{"query":"star wars","top_k":10}' | tee "$out/shopai.txt"
measure "shopai-edge, POST /recommendations" "$SHOPAI_EDGE_WASM" POST /recommendations '{"history":["50","172"],"top_k":10}'
anchor="$SHOPAI_ROOT/../shared/anchors/edge"
if [ -d "$anchor" ]; then
  (cd "$anchor" && CARGO_TARGET_DIR="$SHOPAI_HOME/anchor-target" cargo build -q --target wasm32-wasip2 --release)
  measure "bare spin-sdk component (anchor), GET /" "$SHOPAI_HOME/anchor-target/wasm32-wasip2/release/edge_anchor.wasm" GET / '' | tee "$out/anchor.txt"
  python3 - "$out/shopai.txt" "$out/anchor.txt" <<'PY'
import sys
a = float(open(sys.argv[1]).read().split("|")[2]); b = float(open(sys.argv[2]).read().split("|")[2])
print(f"\nFresh-instance search vs bare component: {a:.2f} / {b:.2f} ms = {a / b:.2f}x")
PY
fi
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
