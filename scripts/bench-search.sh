#!/usr/bin/env bash
# Vector search, ShopAI vs peers, one run, same vectors: 256-d clustered L2-normalized vectors
# from ../shared/anchors/gen_vectors.py (200k base, 1,000 queries; the 20k set is its first rows).
#  - native: `shopai bench-search` through a real bundle, 1 thread: at 20k the default index
#    (sign-bit pass → int8 → f32 query × int8+int4 codes) and the plain int8 scan; at 200k the
#    HNSW graph (instant-distance, 24-bit ids) at several beam widths
#  - faiss-cpu: exact flat, SQ8, HNSW M16/ef64 (1 search thread)
#  - Node 20 at 20k: the npm package vs voy-search and @orama/orama (the anchors' js/bench.mjs)
# Usage: bash scripts/bench-search.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
anchors="$SHOPAI_ROOT/../shared/anchors"
[ -f "$anchors/gen_vectors.py" ] || die "needs ../shared/anchors/gen_vectors.py (the peer anchors)"
bash scripts/setup.sh >/dev/null
"$SHOPAI_PYTHON" -c "import faiss, numpy" 2>/dev/null || "$SHOPAI_VENV/bin/pip" install --quiet faiss-cpu numpy
cargo build --release -q -p shopai-batch
bash scripts/build.sh >/dev/null 2>&1
vecs="$SHOPAI_HOME/cache/vecs"
mkdir -p "$vecs"
if [ ! -f "$vecs/base200k_d256.f32" ]; then
  "$SHOPAI_PYTHON" "$anchors/gen_vectors.py" "$vecs" >/dev/null
  "$SHOPAI_PYTHON" -c "import numpy as np; np.load('$vecs/base_d256.npy').astype('<f4').tofile('$vecs/base200k_d256.f32')"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench() { # n label args...
  local n=$1 label=$2; shift 2
  "$SHOPAI_BIN" bench-search --base "$vecs/base200k_d256.f32" --queries "$vecs/queries_d256.f32" --dim 256 --limit "$n" "$@" \
    | python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    ef = f', ef {r[\"ef\"]}' if r['ef'] else ''
    if r['filter_fraction'] < 1:
        ef += f', category filter keeping 1/{round(1 / r[\"filter_fraction\"])} of the items, {r[\"strategy\"]}'
    r['impl'] = f'shopai native: {r[\"index\"]}{\" + int4 refine\" if r[\"refine\"] else \"\"}{ef} ($label)'
    print(json.dumps(r))" >>"$work/native.jsonl"
}
bench 20000 "default for 20k" --out "$work/b20000.bin"
bench 20000 "int8 scan" --index flat --refine false
"$SHOPAI_PYTHON" scripts/bench/faiss_peers.py "$vecs/base200k_d256.f32" "$vecs/queries_d256.f32" 256 20000 >>"$work/native.jsonl"
bench 200000 "graph; 96 is the default ef" --index graph --ef 96,64,128 --categories 5
"$SHOPAI_PYTHON" scripts/bench/faiss_peers.py "$vecs/base200k_d256.f32" "$vecs/queries_d256.f32" 256 200000 >>"$work/native.jsonl"
node scripts/bench/search-node.mjs "$SHOPAI_PKG" "$work/b20000.bin" "$vecs/base20k_d256.f32" "$vecs/queries_d256.f32" 256 20000 >"$work/node.jsonl"
js="$SHOPAI_HOME/cache/jsanchors"
if [ ! -d "$js/node_modules/voy-search" ]; then
  mkdir -p "$js" && cp "$anchors/js/package.json" "$anchors/js/package-lock.json" "$js/" && (cd "$js" && npm ci --no-audit --no-fund >/dev/null)
fi
cp "$anchors/js/bench.mjs" "$js/"
rm -f "$js/js_results.json"
(cd "$js" && node --experimental-wasm-modules bench.mjs "$vecs" >"$work/peers.log" 2>&1) || echo "(voy/Orama run failed; see $work/peers.log)"
cp "$js/js_results.json" "$work/peers.json" 2>/dev/null || true
python3 - "$work" <<'PY'
import json, sys, os
w = sys.argv[1]
rows = [json.loads(l) for l in open(f"{w}/native.jsonl")]
print("Native, 1 thread, 256-d, 1,000 queries, top-10:\n")
print("| n | implementation | queries/s | recall@10 | bytes/vector |\n|---:|---|---:|---:|---:|")
for r in rows:
    print(f"| {r['n']:,} | {r['impl']} | {r['qps_single_thread']:,.0f} | {r['recall_at_10']:.4f} | {r['bytes_per_vector']:.0f} |")
node = json.loads(open(f"{w}/node.jsonl").read())
print("\nNode 20, 20k × 256, top-10, per query:\n")
print("| implementation | median ms | p95 ms | recall@10 |\n|---|---:|---:|---:|")
print(f"| {node['impl']} | {node['median_ms']:.3f} | {node['p95_ms']:.3f} | {node['recall_at_10']:.4f} |")
try:
    peers = json.load(open(f"{w}/peers.json"))
    for name, r in peers["results"].items():
        med, rec = r.get("median_ms"), r.get("recall10", float("nan"))
        if med:
            print(f"| {name} ({r.get('version', 'plain JS')}) | {med:.3f} | {r.get('p95_ms', float('nan')):.3f} | {rec:.4f} |")
    print("\nShopAI speed-up (median ms): " + ", ".join(f"{k} {r['median_ms'] / node['median_ms']:.1f}×" for k, r in peers["results"].items() if r.get("median_ms")))
except Exception as e:  # report, don't hide
    print(f"\n(peer JS results unavailable: {e})")
PY
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
