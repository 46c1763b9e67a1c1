#!/usr/bin/env bash
# The offline evaluation on MovieLens-100k exactly as ../shared/design/EVAL_PROTOCOL.md defines it:
# ingest → tune (validation) → evaluate (test), then the ALS-only and fusion test NDCG@10 over
# seeds 0..4 to show the spread. Writes out/ml100k/{tuned,eval}.json and eval.html.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
cargo build --release -q -p shopai-batch
bash scripts/fetch-demo-data.sh
export SHOPAI_DATA_DIR="$SHOPAI_ROOT/out/ml100k/data" SHOPAI_OUT_DIR="$SHOPAI_ROOT/out/ml100k"
"$SHOPAI_BIN" ingest --quiet --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item >/dev/null
"$SHOPAI_BIN" tune --quiet >/dev/null
"$SHOPAI_BIN" evaluate --quiet >/dev/null
python3 - "$SHOPAI_OUT_DIR" <<'PY'
import json, sys
r = json.load(open(f"{sys.argv[1]}/eval.json")); t = r["tuned"]
print(f"tuned on validation: ALS factors {t['factors']}, λ {t['regularization']:g}, α {t['alpha']:g}; "
      f"fusion {json.dumps(t['fusion'])}, EASE λ {t['ease_lambda']}, popularity half-life {t['popularity_half_life_days']} d; "
      f"val NDCG@10 ALS {t['val_ndcg_als']:.4f}, fusion {t['val_ndcg_fusion']:.4f}\n")
for split in ("test", "val"):
    for rel in ("all", "pos"):
        print(f"{split}, relevance {rel}:\n\n| model | P@10 | R@10 | NDCG@10 | Coverage@10 | users |\n|---|---:|---:|---:|---:|---:|")
        for row in r["rows"]:
            if row["split"] == split and row["relevance"] == rel:
                m = row["report"]["at"]["10"]
                print(f"| {row['model']} | {m['precision']:.4f} | {m['recall']:.4f} | {m['ndcg']:.4f} | {m['coverage']:.4f} | {row['report']['users']} |")
        print()
print(f"per-user scoring latency (native, fold-in + whole catalog): p50 {r['latency_us']['p50']:.0f} µs, p95 {r['latency_us']['p95']:.0f} µs")
PY
echo
echo "Seed spread (test, all, NDCG@10), tuned parameters re-fit with seeds 0..4:"
for seed in 0 1 2 3 4; do
  python3 -c "import json,sys; t=json.load(open('$SHOPAI_OUT_DIR/tuned.json')); t['seed']=$seed; json.dump(t, open('$SHOPAI_OUT_DIR/tuned-seed.json','w'))"
  SHOPAI_OUT_DIR="$SHOPAI_OUT_DIR/seed" "$SHOPAI_BIN" evaluate --quiet --tuned "$SHOPAI_OUT_DIR/tuned-seed.json" | python3 -c "
import json,sys; h=json.load(sys.stdin)['headline_test_all_at_10']; print(f'  seed $seed: als-only {h[\"als-only\"][\"ndcg\"]:.4f}, fusion {h[\"fusion\"][\"ndcg\"]:.4f}')"
done
