#!/usr/bin/env bash
# ALS training speed, ShopAI vs implicit (CPU, conjugate gradient) in one run on the same file:
# the synthetic 100k users × 20k items × 5M interactions matrix (`shopai synth --scale`, shaped like
# ../shared/anchors/gen_synth.py), factors 64, 2 threads, 15 iterations, binary confidence.
# Usage: bash scripts/bench-als.sh [ROWS=5000000] [ITERATIONS=15]
set -euo pipefail
source "$(dirname "$0")/env.sh"
rows=${1:-5000000}
iters=${2:-15}
bash scripts/setup.sh >/dev/null
"$SHOPAI_PYTHON" -c "import implicit" 2>/dev/null || "$SHOPAI_VENV/bin/pip" install --quiet implicit==0.7.3 threadpoolctl scipy
cargo build --release -q -p shopai-batch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$SHOPAI_BIN" synth --scale "$rows" --out "$work/ratings.csv" >/dev/null
"$SHOPAI_BIN" bench-als --ratings "$work/ratings.csv" --factors 64 --iterations "$iters" --threads 2 --quiet >"$work/shopai.json"
"$SHOPAI_PYTHON" scripts/bench/implicit_als.py "$work/ratings.csv" 64 "$iters" 2 >"$work/implicit.json"
python3 - "$work/shopai.json" "$work/implicit.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); i = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(f"matrix: {s['users']:,} users × {s['items']:,} items, {s['nnz']:,} non-zeros; factors {s['factors']}, {s['threads']} threads, {s['iterations']} iterations\n")
print("| implementation | s/iteration (mean) | median | min | fit total s |")
print("|---|---:|---:|---:|---:|")
for r in (s, i):
    print(f"| {r['impl']} | {r['s_per_iter_mean']:.3f} | {r['s_per_iter_median']:.3f} | {r['s_per_iter_min']:.3f} | {r['fit_s']:.2f} |")
print(f"\nratio ShopAI / implicit (mean s/iteration): {s['s_per_iter_mean'] / i['s_per_iter_mean']:.2f}")
PY
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
