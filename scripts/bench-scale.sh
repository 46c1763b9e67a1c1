#!/usr/bin/env bash
# Where single-machine batch stops: ingest and ALS time and peak memory (GNU time's maximum resident
# set size) on synthetic logs of N interactions (`shopai synth --scale N`: N/50 users, N/250 items,
# power-law items, lognormal users), then a linear fit in N extrapolated to 10^8 and 10^9.
# Each run is bounded by `timeout`; ALS runs a few iterations and reports seconds per iteration.
# Usage: bash scripts/bench-scale.sh [N ...]   (default: 5000000 20000000)
# Env: ALS_ITERATIONS (default 3), ALS_FACTORS (64), THREADS (2), RUN_TIMEOUT (1800 s per command),
# BENCH_BIN (the shopai binary to time; default: this checkout's release build), BENCH_OUT (a folder
# to keep results.jsonl and the table in; default: a temporary folder, removed at exit).
set -euo pipefail
bench_bin=${BENCH_BIN:-}
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
[ -n "$bench_bin" ] && SHOPAI_BIN=$bench_bin
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(5000000 20000000)
iters=${ALS_ITERATIONS:-3}; factors=${ALS_FACTORS:-64}; threads=${THREADS:-2}; limit=${RUN_TIMEOUT:-1800}
[ -x "$SHOPAI_BIN" ] || cargo build --release -q -p shopai-batch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${BENCH_OUT:-$work}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

measure() { # measure NAME OUTFILE cmd... → appends {"name", "wall_s", "max_rss_mb", "stdout"} to $results
  local name=$1 out=$2; shift 2
  timeout "$limit" /usr/bin/time -v -o "$work/time.txt" "$@" >"$out" 2>"$work/stderr.txt" || {
    echo "$name failed or timed out after ${limit}s:" >&2; tail -5 "$work/stderr.txt" >&2; return 1; }
  python3 - "$name" "$out" "$work/time.txt" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results" <<'PY'
import json, sys
name, out, t, load = sys.argv[1:]
f = dict(l.strip().rsplit(": ", 1) for l in open(t) if ": " in l)
wall = f["Elapsed (wall clock) time (h:mm:ss or m:ss)"]
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
text = open(out).read()
try:
    stdout = json.loads(text)
except ValueError:
    stdout = None
print(json.dumps({"name": name, "wall_s": secs, "user_s": float(f["User time (seconds)"]), "max_rss_mb": int(f["Maximum resident set size (kbytes)"]) / 1024, "load_after": load, "stdout": stdout}))
PY
}

for n in "${sizes[@]}"; do
  step "N = $n: synth, ingest, ALS ($factors factors, $threads threads, $iters iterations)"
  "$SHOPAI_BIN" synth --scale "$n" --out "$work/ratings-$n.csv" >/dev/null
  ls -l "$work/ratings-$n.csv" | awk '{printf "csv: %.0f MB\n", $5 / 1e6}' >&2
  SHOPAI_DATA_DIR="$work/data-$n" measure "ingest $n" "$work/ingest-$n.json" \
    "$SHOPAI_BIN" ingest --quiet --ratings "$work/ratings-$n.csv"
  measure "als $n" "$work/als-$n.json" \
    "$SHOPAI_BIN" bench-als --quiet --ratings "$work/ratings-$n.csv" --factors "$factors" --threads "$threads" --iterations "$iters"
  rm -rf "$work/ratings-$n.csv" "$work/data-$n"
done

python3 - "$results" "$factors" <<'PY' | tee "$out/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
factors = int(sys.argv[2])
by = {}
for r in rows:
    kind, n = r["name"].split()
    by.setdefault(int(n), {})[kind] = r
print("| interactions | users × items | ingest s | ingest peak RSS MB | ALS read+index s | ALS s/iteration | ALS 15 iterations s (est.) | ALS peak RSS MB |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
pts = []
for n in sorted(by):
    i, a = by[n]["ingest"], by[n]["als"]
    s = a["stdout"]
    per = s["s_per_iter_mean"]
    prep = a["wall_s"] - s["fit_s"]
    pts.append((n, i["wall_s"], i["max_rss_mb"], prep, per, a["max_rss_mb"]))
    print(f"| {n:,} | {s['users']:,} × {s['items']:,} | {i['wall_s']:.1f} | {i['max_rss_mb']:,.0f} | {prep:.1f} | {per:.2f} | {prep + 15 * per:.0f} | {a['max_rss_mb']:,.0f} |")
if len(pts) >= 2:
    # Least-squares line through the measured points, per column (everything here grows ~linearly in N).
    def fit(col):
        xs = [p[0] for p in pts]; ys = [p[col] for p in pts]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        return lambda n: my + b * (n - mx)
    f = [None] + [fit(c) for c in range(1, 6)]
    for n in (100_000_000, 300_000_000, 1_000_000_000):
        est = [f[c](n) for c in range(1, 6)]
        print(f"| {n:,} (extrapolated) | {n // 50:,} × {n // 250:,} | {est[0]:,.0f} | {est[1]:,.0f} | {est[2]:,.0f} | {est[3]:.1f} | {est[2] + 15 * est[3]:,.0f} | {est[4]:,.0f} |")
print(json.dumps({"factors": factors, "points": pts}), file=sys.stderr)
PY
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
