#!/usr/bin/env bash
# Ingest at scale: generate a 5,000,000-row ratings CSV shaped like ../shared/anchors/gen_synth.py
# (`shopai synth --scale`), then time `shopai ingest` on it (parse, validate, dedupe, parquet,
# version) with /usr/bin/time for wall time and peak RSS. Usage: bash scripts/bench-ingest.sh [ROWS]
set -euo pipefail
source "$(dirname "$0")/env.sh"
rows=${1:-5000000}
command -v /usr/bin/time >/dev/null || { apt-get update -q && apt-get install -y -q time; } >/dev/null
cargo build --release -q -p shopai-batch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$SHOPAI_BIN" synth --scale "$rows" --out "$work/ratings.csv" >/dev/null
echo "input: $rows rows, $(stat -c %s "$work/ratings.csv") bytes"
cd "$work"
/usr/bin/time -v "$SHOPAI_BIN" ingest --ratings ratings.csv --quiet >summary.json 2>time.txt || { cat time.txt; exit 1; }
python3 - <<'PY'
import json, re
s = json.load(open("summary.json")); t = open("time.txt").read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"| rows in | kept | duplicates | quarantined | wall | peak RSS |")
print(f"|---:|---:|---:|---:|---:|---:|")
print(f"| {s['input_rows']:,} | {s['kept']:,} | {s['duplicates']:,} | {s['quarantined']:,} | {wall} | {rss / 1024:.0f} MiB |")
PY
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
