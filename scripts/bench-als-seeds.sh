#!/usr/bin/env bash
# ALS parity in the mean over seeds: ShopAI's ALS (fold-in from int8 factors, the served path)
# and implicit's, at the same hyper-parameters and split, each trained with seeds 0..N-1; on the
# small development sets (91 test users) one seed's difference is within the seed spread.
# Needs a finished `scripts/bench-recsys.sh SET` (its processed data, tuned.json and implicit's
# best setting in peers.json); both settings are run: implicit's best and ShopAI's tuned one.
# usage: scripts/bench-als-seeds.sh SET [SEEDS]   (SEEDS default 5)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
s="${1:?usage: bench-als-seeds.sh SET [SEEDS]}" n="${2:-5}"
w="$SHOPAI_ROOT/out/bench-recsys/$s"
[ -f "$w/peers.json" ] || die "no $w/peers.json: run scripts/bench-recsys.sh $s first"
case "$s" in
  ml-100k) ratings=data/ml-100k/ml-100k.inter catalog=data/ml-100k/ml-100k.item ;;
  *) ratings="$SHOPAI_ROOT/out/bench-recsys/devsets/${s%-leave-last-out}/ratings.tsv"
     catalog="$SHOPAI_ROOT/out/bench-recsys/devsets/${s%-leave-last-out}/catalog.jsonl" ;;
esac
PY="$SHOPAI_PYTHON"
seeds=$(seq -s, 0 $((n - 1)))
settings=$("$PY" - "$w" <<'PY'
import json, sys
w = sys.argv[1]
p = json.load(open(f"{w}/peers.json"))["models"]["als"]["params"]
t = json.load(open(f"{w}/tuned.json"))
print("%d,%g,%g %d,%g,%g" % (p["factors"], p["regularization"], p["alpha"], t["factors"], t["regularization"], t["alpha"]))
PY
)
out="$w/als-seeds"
mkdir -p "$out"
export SHOPAI_DATA_DIR="$w/data"
for setting in $settings; do
  for seed in $(seq 0 $((n - 1))); do
    "$PY" - "$w/tuned.json" "$setting" "$seed" "$out/tuned-$setting-$seed.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
f, r, a = sys.argv[2].split(",")
t.update(factors=int(f), regularization=float(r), alpha=float(a), seed=int(sys.argv[3]),
         fusion={"vector": 0.0, "collab": 1.0, "popularity": 0.0, "item": 0.0}, fusion_segments=[],
         ease_lambda=None, history_half_life=0)
json.dump(t, open(sys.argv[4], "w"))
PY
    SHOPAI_OUT_DIR="$out/shopai-$setting-$seed" "$SHOPAI_BIN" evaluate --quiet --tuned "$out/tuned-$setting-$seed.json" > /dev/null
  done
done
# shellcheck disable=SC2046
"$PY" scripts/bench/recsys_peers.py "$ratings" "$catalog" $(for x in $settings; do echo --als "$x"; done) \
  --als-seeds "$seeds" $(grep -q '"leave-last-out"' "$w/peers.json" && echo --leave-last-out) > "$out/implicit.json"
"$PY" - "$out" "$settings" "$n" <<'PY'
import json, statistics, sys
out, settings, n = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
imp = json.load(open(f"{out}/implicit.json"))["als_seeds"]
print("| setting (factors, λ, α) | seeds | ShopAI mean (min–max) | implicit mean (min–max) | ShopAI − implicit |")
print("|---|---:|---:|---:|---:|")
for st in settings:
    key = "%g,%g,%g" % tuple(float(x) for x in st.split(","))
    ours = []
    for sd in range(n):
        r = json.load(open(f"{out}/shopai-{st}-{sd}/eval.json"))
        ours.append(next(x for x in r["rows"] if x["model"] == "als-only" and x["split"] == "test"
                         and x["relevance"] == "all")["report"]["at"]["10"]["ndcg"])
    theirs = [imp[key][str(sd)] for sd in range(n)]
    mo, mi = statistics.mean(ours), statistics.mean(theirs)
    print(f"| {key} | {n} | {mo:.4f} ({min(ours):.4f}–{max(ours):.4f}) | {mi:.4f} ({min(theirs):.4f}–{max(theirs):.4f}) | {mo - mi:+.4f} |")
PY
