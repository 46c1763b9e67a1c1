"""Time implicit's CPU ALS on a ratings CSV, the way ../shared/anchors/als_speed.py does:
binary matrix, factors/regularization/alpha as given, 2 threads, BLAS limited to 1 thread,
per-iteration time from implicit's own fit callback. Prints one JSON line.
usage: implicit_als.py RATINGS.csv FACTORS ITERATIONS THREADS"""
import json
import sys
import time

import numpy as np
import pyarrow.csv as pacsv
import scipy.sparse as sp
import threadpoolctl
import implicit
from implicit.cpu.als import AlternatingLeastSquares

path, factors, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = pacsv.read_csv(path)
u, i = t.column(0).to_numpy(), t.column(1).to_numpy()
_, u = np.unique(u, return_inverse=True)
_, i = np.unique(i, return_inverse=True)
X = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(u.max() + 1, i.max() + 1))
X.sum_duplicates()
X.data[:] = 1.0
m = AlternatingLeastSquares(factors=factors, regularization=0.05, alpha=1.0, iterations=iters,
                            random_state=42, num_threads=threads, use_cg=True)
per = []
with threadpoolctl.threadpool_limits(1, "blas"):
    start = time.perf_counter()
    m.fit(X, show_progress=False, callback=lambda it, el, loss: per.append(el))
    total = time.perf_counter() - start
print(json.dumps({"impl": f"implicit {implicit.__version__}", "users": X.shape[0], "items": X.shape[1], "nnz": int(X.nnz),
                  "factors": factors, "threads": threads, "iterations": iters, "fit_s": total,
                  "s_per_iter_mean": float(np.mean(per)), "s_per_iter_median": float(np.median(per)),
                  "s_per_iter_min": float(np.min(per))}))
