#!/usr/bin/env bash
# ShopAI beside the peer recommenders (implicit ALS, implicit item-kNN, EASE, popularity) on
# MovieLens-100k and the development sets of ../shared/data, in one run, same machine, same
# protocol (EVAL_PROTOCOL.md, repeated pairs included). Per dataset:
#   shopai ingest → tune (validation, grid + edge extension) → evaluate (test)
#   scripts/bench/recsys_peers.py (peers tuned on validation; plus implicit at ShopAI's ALS setting)
#   shopai evaluate with implicit's best ALS setting (ALS parity both ways)
# Prints markdown tables (docs/BENCHMARKS.md) and keeps every JSON under out/bench-recsys/.
# usage: scripts/bench-recsys.sh [ml-100k|amazon-gift-cards-2018|amazon-scientific-unisrec ...]
#   FULL_EASE=1 also evaluates the tuned model with whole EASE rows instead of the top 100.
#   PROTOCOL=leave-last-out splits each user's last row to test and the one before to validation
#   (the published protocol of sequential recommenders) for ShopAI and the peers alike; results go
#   to out/bench-recsys/<set>-leave-last-out.
#   EMBED=minilm embeds the item texts with all-MiniLM-L6-v2 (`shopai serve-embeddings` on a free
#   loopback port, through the OpenAI provider) instead of the hashing embedder; results go to
#   out/bench-recsys/<set>[-leave-last-out]-minilm. The peers use no text: their rows are the same.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
SHARED="${SHOPAI_SHARED_DATA:-$SHOPAI_ROOT/../shared/data}"
[ -d "$SHARED" ] || SHARED=/work/shared/data
OUT="$SHOPAI_ROOT/out/bench-recsys"
PY="$SHOPAI_PYTHON"
"$PY" -c "import implicit" 2>/dev/null || die "implicit is not in $SHOPAI_VENV: run scripts/setup.sh"
[ -x "$SHOPAI_BIN" ] || cargo build --release -q -p shopai-batch
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(ml-100k amazon-gift-cards-2018 amazon-scientific-unisrec)
mkdir -p "$OUT"
protocol="${PROTOCOL:-temporal}"
case "$protocol" in
  temporal) suffix="" peer_protocol=() ;;
  leave-last-out) suffix="-leave-last-out" peer_protocol=(--leave-last-out) ;;
  *) die "PROTOCOL must be temporal or leave-last-out, not $protocol" ;;
esac
config=()
embed_pid=""
trap '[ -n "$embed_pid" ] && kill "$embed_pid" 2>/dev/null || true' EXIT
case "${EMBED:-hash}" in
  hash) ;;
  minilm)
    bash scripts/fetch-model.sh >/dev/null
    serve_minilm "$OUT/serve-embeddings.log"
    minilm_toml "$embed_port" "$OUT/embed-cache-minilm" >"$OUT/minilm.toml"
    config=(--config "$OUT/minilm.toml") suffix="$suffix-minilm" ;;
  *) die "EMBED must be hash or minilm, not $EMBED" ;;
esac
for s in "${sets[@]}"; do
  case "$s" in
    ml-100k) bash scripts/fetch-demo-data.sh
             ratings=data/ml-100k/ml-100k.inter catalog=data/ml-100k/ml-100k.item ;;
    *)       [ -f "$OUT/devsets/$s/ratings.tsv" ] || "$PY" scripts/bench/devsets.py "$SHARED" "$OUT/devsets" >&2
             ratings="$OUT/devsets/$s/ratings.tsv" catalog="$OUT/devsets/$s/catalog.jsonl" ;;
  esac
  w="$OUT/$s$suffix"
  rm -rf "$w" && mkdir -p "$w"
  export SHOPAI_DATA_DIR="$w/data" SHOPAI_OUT_DIR="$w"
  step "$s: ShopAI ingest → tune → evaluate"
  "$SHOPAI_BIN" ${config[@]+"${config[@]}"} ingest --ratings "$ratings" --catalog "$catalog" > "$w/ingest.json"
  start=$(date +%s)
  "$SHOPAI_BIN" ${config[@]+"${config[@]}"} tune --protocol "$protocol" > "$w/tune-summary.json"
  "$SHOPAI_BIN" ${config[@]+"${config[@]}"} evaluate > "$w/evaluate-summary.json"
  echo "{\"tune_and_evaluate_s\": $(( $(date +%s) - start ))}" > "$w/time.json"
  als=$("$PY" -c "import json; t=json.load(open('$w/tuned.json')); print('%d,%g,%g' % (t['factors'], t['regularization'], t['alpha']))")
  step "$s: peers (implicit 0.7.3, EASE, item-kNN, popularity), plus implicit at ShopAI's ALS $als"
  "$PY" scripts/bench/recsys_peers.py "$ratings" "$catalog" --als "$als" ${peer_protocol[@]+"${peer_protocol[@]}"} > "$w/peers.json"
  step "$s: ShopAI ALS at implicit's best setting"
  "$PY" - "$w" <<'PY'
import json, sys
w = sys.argv[1]
t = json.load(open(f"{w}/tuned.json"))
p = json.load(open(f"{w}/peers.json"))["models"]["als"]["params"]
t.update(factors=int(p["factors"]), regularization=p["regularization"], alpha=p["alpha"],
         fusion={"vector": 0.0, "collab": 1.0, "popularity": 0.0, "item": 0.0}, fusion_segments=[],
         ease_lambda=None)
json.dump(t, open(f"{w}/tuned-implicit-als.json", "w"))
PY
  SHOPAI_OUT_DIR="$w/at-implicit" "$SHOPAI_BIN" ${config[@]+"${config[@]}"} evaluate --quiet --tuned "$w/tuned-implicit-als.json" > /dev/null
  if [ "${FULL_EASE:-0}" = 1 ] && "$PY" -c "import json,sys; sys.exit(json.load(open('$w/tuned.json')).get('ease_lambda') is None)"; then
    step "$s: ShopAI with whole EASE rows (what keeping the top 100 costs)"
    "$PY" -c "import json; t=json.load(open('$w/tuned.json')); t['ease_neighbors']=10**9; json.dump(t, open('$w/tuned-full-ease.json','w'))"
    SHOPAI_OUT_DIR="$w/full-ease" "$SHOPAI_BIN" ${config[@]+"${config[@]}"} evaluate --quiet --tuned "$w/tuned-full-ease.json" > /dev/null
  fi
done
"$PY" scripts/bench/recsys_tables.py "$OUT" $(for s in "${sets[@]}"; do echo "$s$suffix"; done)
