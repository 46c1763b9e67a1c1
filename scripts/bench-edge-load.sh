#!/usr/bin/env bash
# What a fresh edge instance costs as the catalog grows, and what building the bundle into the
# component (SHOPAI_EDGE_BUNDLE, docs/EDGE.md) saves. Spin and `wasmtime serve` make a fresh
# instance every 128 requests, and each one loads the bundle: read from the mounted file (64 KiB
# per host call) and checksummed, or, when built in, mapped from the component's data.
#
# A synthetic storefront of ITEMS products (`shopai synth`, hashing embedder, built once and kept
# under $SHOPAI_HOME/bench-edge-load), then for each runtime: the trivial spin-sdk component of
# ../shared/anchors/edge, ShopAI with the bundle mounted, ShopAI with it built in — wrk at
# saturation on 20 repeated searches (GET /search?q=, answer cache on, the shared store set up as
# deployed), with the median `load_ms` of the instances' `bundle_loaded` lines.
# Usage: bash scripts/bench-edge-load.sh [ITEMS, default 50000] [SECONDS per row, default 15]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
items=${1:-50000}
dur=${2:-15}
conns=16
command -v wrk >/dev/null || die "wrk is not installed: bash scripts/setup.sh (or apt-get install wrk)"
[ -f "$SHOPAI_EDGE_WASM" ] || die "build the edge first: bash scripts/build.sh"
keep="$SHOPAI_HOME/bench-edge-load/$items"
if [ ! -f "$keep/bundle.bin" ]; then
  step "a storefront of $items products (built once, kept in $keep)"
  mkdir -p "$keep"
  "$SHOPAI_BIN" synth --items "$items" --users $((items / 2)) --per-user 12 --out "$keep" --quiet
  "$SHOPAI_BIN" build --ratings "$keep/ratings.csv" --catalog "$keep/catalog.csv" --out "$keep/bundle.bin.tmp" --quiet >/dev/null
  mv "$keep/bundle.bin.tmp" "$keep/bundle.bin"
fi
step "the edge with the bundle built in"
CARGO_TARGET_DIR="$SHOPAI_HOME/target-embed" SHOPAI_EDGE_BUNDLE="$keep/bundle.bin" \
  cargo build -q --release -p shopai-edge --target wasm32-wasip2
embedded="$SHOPAI_HOME/target-embed/wasm32-wasip2/release/shopai_edge.wasm"
if command -v spin >/dev/null; then
  spin_wasm=$(spin_edge_wasm)
  spin_embedded=$(SHOPAI_EDGE_BUNDLE="$keep/bundle.bin" spin_edge_wasm target-spin-embed)
fi
anchor_dir="$SHOPAI_ROOT/../shared/anchors/edge"
anchor="$SHOPAI_HOME/anchor-target/wasm32-wasip2/release/edge_anchor.wasm"
[ -d "$anchor_dir" ] || die "no trivial component at $anchor_dir"
(cd "$anchor_dir" && CARGO_TARGET_DIR="$SHOPAI_HOME/anchor-target" cargo build -q --target wasm32-wasip2 --release)

out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
cp "$keep/bundle.bin" "$out/bundle.bin"
# The 20 most popular searches: the first two title words of 20 catalog products, Zipf-weighted.
python3 - "$keep/catalog.csv" "$out" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
step = max(1, len(rows) // 20)
queries = [" ".join(r["title"].split()[:2]) for r in rows[::step][:20]]
lua = "local popular = " + json.dumps(queries).replace("[", "{").replace("]", "}") + "\n" + r'''
local total = 0
for r = 1, #popular do total = total + 1 / r end
function request()
  local x, acc = math.random() * total, 0
  for r = 1, #popular do
    acc = acc + 1 / r
    if x <= acc then return wrk.format("GET", "/search?q=" .. popular[r]:gsub(" ", "+") .. "&top_k=10") end
  end
  return wrk.format("GET", "/search?q=" .. popular[1]:gsub(" ", "+") .. "&top_k=10")
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d socket_errors=%d s5xx=0 s4xx=0\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
'''
open(sys.argv[2] + "/popular.lua", "w").write(lua)
open(sys.argv[2] + "/anchor.lua", "w").write('function request() return wrk.format("GET", "/") end\n' + lua[lua.index("function done"):])
PY
source "$(dirname "$0")/soak-lib.sh"

# Median load_ms of the bundle_loaded lines the server wrote since the phase started.
loads() {
  local log=$1
  [ -d "$out/.spin/logs" ] && log="$out/.spin/logs/c_stderr.txt"
  python3 - "$log" <<'PY'
import json, sys
ms = []
for line in open(sys.argv[1], errors="replace"):
    if '"bundle_loaded"' in line:
        try:
            ms.append(json.loads(line[line.index("{"):])["load_ms"])
        except (ValueError, KeyError):
            pass
ms.sort()
print(f"{len(ms)} instances, median load {ms[len(ms) // 2]:.1f} ms" if ms else "no instance loaded a bundle")
PY
}

runtimes=(wasmtime)
command -v spin >/dev/null && runtimes+=(spin) || echo "(spin not on PATH: Spin rows skipped)" >&2
echo
echo "Bundle: $items products, $(stat -c %s "$keep/bundle.bin") bytes"
for rt in "${runtimes[@]}"; do
  mounted=$SHOPAI_EDGE_WASM built_in=$embedded shared=(SHOPAI_BUNDLE_CACHE_DIR=/data/shared)
  [ "$rt" = spin ] && mounted=$spin_wasm built_in=$spin_embedded shared=()
  header "$rt"
  start "$rt" "$anchor"; phase "trivial component, GET /" anchor; stop
  for variant in mounted built_in; do
    rm -rf "$out/shared" "$out/.spin"; mkdir -p "$out/shared"
    start "$rt" "${!variant}" "${shared[@]}"
    phase "ShopAI, bundle ${variant/_/ }, 20 repeated searches" popular
    stop
    echo "  ($variant: $(loads "$out/server.log"))"
  done
done
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
