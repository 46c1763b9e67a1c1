"""faiss peers on the same raw f32 vectors, 1 search thread: exact flat, SQ8 flat, HNSW M16 ef64.
Single-query throughput is timed one query at a time (as ShopAI's is). Prints one JSON line each.
usage: faiss_peers.py BASE.f32 QUERIES.f32 DIM N"""
import json
import sys
import time

import numpy as np
import faiss

base_p, q_p, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
xb = np.fromfile(base_p, dtype="<f4").reshape(-1, d)[:n].copy()
xq = np.fromfile(q_p, dtype="<f4").reshape(-1, d).copy()
faiss.omp_set_num_threads(1)
flat = faiss.IndexFlatIP(d)
flat.add(xb)
_, gt = flat.search(xq, 10)


def single(index, label, build_s, extra=None):
    t = time.perf_counter()
    found = []
    for i in range(len(xq)):
        _, I = index.search(xq[i:i + 1], 10)
        found.append(I[0])
    el = time.perf_counter() - t
    rec = float(np.mean([len(set(f) & set(g)) / 10 for f, g in zip(found, gt)]))
    out = {"impl": f"faiss {faiss.__version__} {label}", "n": n, "qps_single_thread": len(xq) / el, "median_ms": 1000 * el / len(xq),
           "recall_at_10": rec, "bytes_per_vector": len(faiss.serialize_index(index)) / n, "build_s": build_s}
    out.update(extra or {})
    print(json.dumps(out), flush=True)


single(flat, "IndexFlatIP (exact f32)", 0.0)
t = time.perf_counter()
sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
sq.train(xb)
sq.add(xb)
single(sq, "SQ8 flat", time.perf_counter() - t)
faiss.omp_set_num_threads(2)
t = time.perf_counter()
h = faiss.IndexHNSWFlat(d, 16, faiss.METRIC_INNER_PRODUCT)
h.hnsw.efConstruction = 200
h.add(xb)
b = time.perf_counter() - t
faiss.omp_set_num_threads(1)
h.hnsw.efSearch = 64
single(h, "HNSW M16 efSearch64", b)
