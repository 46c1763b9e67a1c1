#!/usr/bin/env bash
# How close to the trivial component a cached answer can get: the protocol's own floor. Serves,
# at once under `wasmtime serve`, the trivial spin-sdk component of ../shared/anchors/edge, the
# floor component of scripts/bench/edge-floor (the edge's stored answer and headers, no work;
# then also reading the request body as the edge does), and the edge itself with the answer cache
# on (log line off, then on), and drives each in alternation with the same wrk script of popular
# searches (3 s each, ROUNDS times), so the load generator's cost is the same for all. Prints
# req/s (median of the rounds) and each server's ratio to the trivial component, per round.
# Usage: bash scripts/bench-edge-floor.sh [ROUNDS, default 5] [MIX: popular (POST, default) or popular-get] [-- wasmtime serve flags]
#   Flags default to `--max-instance-reuse-count 4096`, as docs/EDGE.md deploys the edge.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
rounds=5 mix=popular
[ $# -gt 0 ] && [ "$1" != -- ] && { rounds=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { mix=$1; shift; }
[ "${1:-}" = -- ] && shift
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--max-instance-reuse-count 4096)
command -v wrk >/dev/null || die "wrk is not installed: bash scripts/setup.sh (or apt-get install wrk)"
[ -x "$SHOPAI_BIN" ] && [ -f "$SHOPAI_EDGE_WASM" ] || bash scripts/build.sh >/dev/null
bash scripts/fetch-demo-data.sh
anchor_dir="$SHOPAI_ROOT/../shared/anchors/edge"
[ -d "$anchor_dir" ] || die "no trivial component at $anchor_dir"
(cd "$anchor_dir" && CARGO_TARGET_DIR="$SHOPAI_HOME/anchor-target" cargo build -q --target wasm32-wasip2 --release)
anchor="$SHOPAI_HOME/anchor-target/wasm32-wasip2/release/edge_anchor.wasm"
(cd scripts/bench/edge-floor && CARGO_TARGET_DIR="$SHOPAI_HOME/floor-target" cargo build -q --target wasm32-wasip2 --release)
floor="$SHOPAI_HOME/floor-target/wasm32-wasip2/release/edge_floor.wasm"
out=$(mktemp -d)
servers=()
cleanup() { for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
"$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
python3 scripts/soak-mix.py "$mix" data/ml-100k/ml-100k.item data/ml-100k/ml-100k.inter "$out/mix.lua"
# serve NAME WASM [--env K=V]...: a server on a free port, its stderr (the log lines) to a file.
names=() urls=()
serve() {
  local name=$1 wasm=$2 p; shift 2
  p=$(free_port)
  mkdir -p "$out/shared-$p"
  wasmtime serve -Scli -Sp3 -Wcomponent-model-async --addr "127.0.0.1:$p" --dir "$out::/data" \
    --env SHOPAI_BUNDLE_PATH=/data/bundle.bin --env "SHOPAI_BUNDLE_CACHE_DIR=/data/shared-$p" "${flags[@]}" "$@" \
    "$wasm" >/dev/null 2>"$out/$name.log" &
  servers+=($!)
  for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$p/health" && break; sleep 0.1; done
  names+=("$name") urls+=("http://127.0.0.1:$p")
}
serve "trivial component" "$anchor"
serve "ShopAI, log off" "$SHOPAI_EDGE_WASM" --env SHOPAI_LOG_REQUESTS=off
serve "ShopAI, log on" "$SHOPAI_EDGE_WASM"
# The floor sends the edge's own answer to the most popular search, byte for byte.
curl -fsS -X POST -H 'content-type: application/json' -d '{"query":"star wars","top_k":10}' \
  "${urls[1]}/search" >"$out/answer.json"
serve "floor: the edge's answer and headers" "$floor" --env FLOOR_BODY=/data/answer.json
[ "$mix" = popular ] && serve "floor, reading the request body" "$floor" --env FLOOR_BODY=/data/answer.json --env FLOOR_READ=1
results=()
for r in $(seq "$rounds"); do
  row=()
  for u in "${urls[@]}"; do
    row+=("$(wrk -t1 -c16 -d3s -s "$out/mix.lua" "$u/" | sed -n 's/^RESULT rps=\([0-9.]*\).*/\1/p')")
  done
  results+=("${row[*]}")
done
python3 - "$mix" "$(wc -c <"$out/answer.json")" "$(IFS='|'; echo "${names[*]}")" "${results[@]}" <<'PY'
import statistics as s, sys
mix, size, names, rounds = sys.argv[1], sys.argv[2], sys.argv[3].split("|"), [list(map(float, r.split())) for r in sys.argv[4:]]
print(f"mix {mix}, answer {size} bytes, {len(rounds)} rounds of 3 s each (wrk -t1 -c16, the same script for every server)")
print("| server | req/s (median) | / trivial, per round |\n|---|---:|---|")
for j, name in enumerate(names):
    col = [r[j] for r in rounds]
    ratios = sorted(round(r[j] / r[0], 2) for r in rounds)
    print(f"| {name} | {s.median(col):,.0f} | {s.median(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f}) |")
PY
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2); flags ${flags[*]}"
