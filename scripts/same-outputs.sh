#!/usr/bin/env bash
# Run the same batch commands with two `shopai` binaries and compare every file they write and
# every JSON they print: for a refactor that must not change a byte.
#   bash scripts/same-outputs.sh OLD_BIN NEW_BIN [WORK_DIR]
# Both run under libfaketime at one fixed wall-clock time (the manifest's created_at and version
# date), with the monotonic clock left real. Byte equality is required everywhere except the fields
# that measure elapsed time: "seconds" (ingest), "latency_us" (evaluate) and the p50/p95 µs in
# eval.html, which are compared with those values removed. Needs `faketime` (Debian package) and
# data/ml-100k (scripts/fetch-demo-data.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
old="$(realpath "$1")"; new="$(realpath "$2")"
work="${3:-$(mktemp -d /tmp/shopai-same-XXXX)}"
command -v faketime >/dev/null || die "install faketime (apt-get install faketime)"
bash "$SHOPAI_ROOT/scripts/fetch-demo-data.sh"
ml="$SHOPAI_ROOT/data/ml-100k"

outputs() { # $1 = binary, $2 = folder
  local bin="$1" dir="$2"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  export FAKETIME_DONT_FAKE_MONOTONIC=1 SHOPAI_DATA_DIR=data SHOPAI_OUT_DIR=out
  unset SHOPAI_EMBEDDINGS_PROVIDER OPENAI_BASE_URL
  s() { faketime '2026-01-02 03:04:05' "$bin" --quiet "$@"; }
  s synth --out synth > p-synth.json
  s synth --scale 200000 --out scale.csv > p-scale.json
  s build --ratings synth/ratings.csv --catalog synth/catalog.csv --out out/raw.bin > p-build-raw.json
  s build --ratings scale.csv --out out/scale.bin > p-build-scale.json
  s ingest --ratings synth/ratings.csv --catalog synth/catalog.csv > p-ingest.json
  s eda > p-eda.json
  s split > p-split.json
  s run --quick-tune --ratings synth/ratings.csv --catalog synth/catalog.csv --out out/run.bin > p-run.json
  s evaluate-search --bundle out/run.bin --queries synth/search_queries.csv --labels synth/search_labels.csv > p-es.json
  s build --tuned out/tuned.json --eval out/eval.json --search-tuned out/search_eval.json --out out/tuned.bin > p-build-tuned.json
  s query --bundle out/tuned.bin search --text "waterproof rain jacket" --top-k 5 > p-q-search.json
  s query --bundle out/tuned.bin recommend --user U0001 > p-q-rec.json
  s inspect out/tuned.bin > p-inspect.json
  s config > p-config.json
  # ML-100k: ingest, split, a small tuning grid, evaluate, the tuned bundle.
  export SHOPAI_DATA_DIR=ml/data SHOPAI_OUT_DIR=ml/out
  s ingest --ratings "$ml/ml-100k.inter" --catalog "$ml/ml-100k.item" > p-ml-ingest.json
  s split > p-ml-split.json
  s tune --factors 16 --regularization 0.5 --alpha 1 --ease-lambda 300 --half-life-days 0,30 > p-ml-tune.json
  s evaluate > p-ml-evaluate.json
  s build --tuned ml/out/tuned.json --eval ml/out/eval.json --out ml/out/ml100k.bin > p-ml-build.json
  mkdir -p ../help-"$(basename "$dir")"
  for h in ingest eda split build embed tune evaluate evaluate-search run query inspect synth config serve-embeddings bench-search bench-als; do
    "$bin" help $h > ../help-"$(basename "$dir")"/$h.txt 2>&1 || true
  done
}

( outputs "$old" "$work/old" )
( outputs "$new" "$work/new" )
python3 - "$work/old" "$work/new" <<'PY'
import json, os, re, sys
old, new = sys.argv[1], sys.argv[2]
TIMING = {"seconds", "latency_us"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMING}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
same, normalized, differ = 0, [], []
names = sorted({os.path.relpath(os.path.join(d, f), old) for d, _, fs in os.walk(old) for f in fs})
names_new = sorted({os.path.relpath(os.path.join(d, f), new) for d, _, fs in os.walk(new) for f in fs})
if names != names_new:
    differ.append(f"file sets differ: {sorted(set(names) ^ set(names_new))}")
for n in names:
    if not os.path.exists(os.path.join(new, n)):
        continue
    a, b = open(os.path.join(old, n), "rb").read(), open(os.path.join(new, n), "rb").read()
    if a == b:
        same += 1
        continue
    if n.endswith(".json"):
        if strip(json.loads(a)) == strip(json.loads(b)):
            normalized.append(n)
            continue
    if n.endswith("eval.html"):
        lat = re.compile(rb"p50 \d+ \xc2\xb5s, p95 \d+ \xc2\xb5s")
        if lat.sub(b"", a) == lat.sub(b"", b):
            normalized.append(n)
            continue
    differ.append(n)
print(f"{same} files byte-identical; equal once elapsed-time fields are dropped: {normalized}")
for d in differ:
    print("DIFFERENT:", d)
sys.exit(1 if differ else 0)
PY
echo "--help texts that differ (reviewed by hand; not part of the byte check):"
diff -r "$work/help-old" "$work/help-new" || true
