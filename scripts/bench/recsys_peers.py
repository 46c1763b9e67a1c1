"""The peer recommenders of ../shared/anchors/baselines.py (popularity, implicit ALS, implicit
item-kNN cosine, EASE) on any ratings file, under the protocol of EVAL_PROTOCOL.md including its
section on repeated pairs: every input row is split (stable sort on timestamp, cut 70/15/15 by
row count), duplicates collapse only in the binary matrices, an item already in H(u) is never
relevant. Item order (the tie-break) = catalog order, then first appearance in the ratings — the
order ShopAI uses. Tuned on validation NDCG@10 ("all"), reported on test refit on train+val.

usage: recsys_peers.py RATINGS.tsv CATALOG [--als f,reg,alpha ...] [--quick] [--leave-last-out]
                      [--als-seeds 0,1,2] > peers.json
  RATINGS: tab-separated with a header: user, item, rating, timestamp (RecBole .inter or devsets.py)
  CATALOG: ml-100k.item-style TSV (first column = id) or JSON lines with "asin"
  --als:   extra ALS settings evaluated as given (e.g. ShopAI's tuned ones), beside the grid.
  --als-seeds 0,1,…: only the --als settings, once per seed (test NDCG@10), for parity in the mean.
  --leave-last-out: each user's last row is the test, the one before validation (the published
           protocol of sequential recommenders, e.g. UniSRec on amazon-scientific-unisrec).
"""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import CosineRecommender

K = 10
THREADS = 2
SEED = 42

args = sys.argv[1:]
ratings_path, catalog_path = args[0], args[1]
extra_als = [tuple(float(x) for x in args[i + 1].split(",")) for i, a in enumerate(args) if a == "--als"]
quick = "--quick" in args
loo = "--leave-last-out" in args
als_seeds = [int(x) for i, a in enumerate(args) if a == "--als-seeds" for x in args[i + 1].split(",")]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------- data and split
if catalog_path.endswith(".jsonl"):
    catalog = [json.loads(l)["asin"] for l in open(catalog_path) if l.strip()]
else:
    catalog = [l.split("\t")[0] for l in open(catalog_path).read().splitlines()[1:] if l.strip()]
item_index = {}
for it in catalog:
    item_index.setdefault(it, len(item_index))
user_index = {}
rows = []  # (u, i, rating, ts, line)
with open(ratings_path) as f:
    next(f)
    for line_no, line in enumerate(f):
        u, i, r, t = line.rstrip("\n").split("\t")[:4]
        rows.append((user_index.setdefault(u, len(user_index)), item_index.setdefault(i, len(item_index)),
                     float(r), float(t), line_no))
n_users, n_items = len(user_index), len(item_index)
rows.sort(key=lambda x: (x[3], x[4]))
n = len(rows)
if loo:
    # Leave-last-out (SASRec/UniSRec's protocol): per user in time order, last → test, the one
    # before → validation, the rest → train (a user with 2 rows: train + test; 1 row: train).
    by_user = {}
    for r in rows:
        by_user.setdefault(r[0], []).append(r)
    train, val, test = [], [], []
    for seq in by_user.values():
        if len(seq) >= 3:
            train += seq[:-2]; val.append(seq[-2]); test.append(seq[-1])
        elif len(seq) == 2:
            train.append(seq[0]); test.append(seq[1])
        else:
            train += seq
    trainval = train + val
else:
    a, b = int(np.floor(0.70 * n)), int(np.floor(0.85 * n))
    train, val, test, trainval = rows[:a], rows[a:b], rows[b:], rows[:b]


def matrix(part):
    m = sp.csr_matrix((np.ones(len(part), dtype=np.float32), ([r[0] for r in part], [r[1] for r in part])),
                      shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def eval_set(h, e, variant):
    pairs = {(r[0], r[1]) for r in h}
    users_h = {r[0] for r in h}
    rel = {}
    for u, i, r, _, _ in e:
        if variant == "pos" and r < 4:
            continue
        if u in users_h and (u, i) not in pairs:
            rel.setdefault(u, set()).add(i)
    users = np.array(sorted(rel), dtype=np.int64)
    return users, [rel[u] for u in users]


def metrics(top, rels):
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    P = R = N = 0.0
    seen = set()
    for t, rel in zip(top, rels):
        hits = np.array([1.0 if x in rel else 0.0 for x in t])
        P += hits.sum() / K
        R += hits.sum() / len(rel)
        N += (hits * disc).sum() / disc[: min(len(rel), K)].sum()
        seen.update(t.tolist())
    m = max(len(rels), 1)
    return {"P@10": P / m, "R@10": R / m, "NDCG@10": N / m, "Cov@10": len(seen) / n_items, "users": len(rels)}


SETS = {}
for name, h, e in (("val", train, val), ("test", trainval, test)):
    hist = matrix(h)
    for variant in ("all", "pos"):
        users, rels = eval_set(h, e, variant)
        SETS[(name, variant)] = (users, rels, hist)


def evaluate(score_fn, name, variants=("all", "pos")):
    out = {}
    for variant in variants:
        users, rels, hist = SETS[(name, variant)]
        tops = []
        for s in range(0, len(users), 2048):
            chunk = users[s:s + 2048]
            sc = np.array(score_fn(chunk), dtype=np.float64, copy=True)
            sub = hist[chunk]
            sc[np.repeat(np.arange(len(chunk)), np.diff(sub.indptr)), sub.indices] = -np.inf
            # stable sort on −score: ties keep item order (= ascending item index)
            tops.append(np.argsort(-sc, axis=1, kind="stable")[:, :K])
        top = np.concatenate(tops) if tops else np.zeros((0, K), dtype=np.int64)
        out[variant] = metrics(top, rels)
    return out


# ---------------- models (as ../shared/anchors/baselines.py)
def pop_fit(X):
    cnt = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
    return lambda users: np.tile(cnt, (len(users), 1))


def als_fit(X, factors, reg, alpha, iters=15, seed=SEED):
    m = AlternatingLeastSquares(factors=int(factors), regularization=reg, alpha=alpha, iterations=iters,
                                random_state=seed, num_threads=THREADS)
    with threadpoolctl.threadpool_limits(1, "blas"):
        m.fit(X, show_progress=False)
    U, V = m.user_factors.astype(np.float64), m.item_factors.astype(np.float64)
    return lambda users: U[users] @ V.T


def knn_fit(X, k):
    m = CosineRecommender(K=k, num_threads=THREADS)
    m.fit(X, show_progress=False)
    S = m.similarity.tocsr()
    return lambda users: np.asarray((X[users] @ S).todense(), dtype=np.float64)


def ease_fit(X, lam):
    G = (X.T @ X).toarray().astype(np.float64)
    G[np.diag_indices_from(G)] += lam
    P = np.linalg.inv(G)
    B = P / (-np.diag(P))
    B[np.diag_indices_from(B)] = 0.0
    return lambda users: np.asarray(X[users].todense(), dtype=np.float64) @ B


X_tr, X_tv = matrix(train), matrix(trainval)
result = {"data": {"protocol": "leave-last-out" if loo else "temporal", "rows": n, "distinct_pairs_all": int(matrix(rows).nnz), "users": n_users, "items": n_items,
                   "split_rows": [len(train), len(val), len(test)],
                   "eval_users": {f"{k[0]}/{k[1]}": len(v[0]) for k, v in SETS.items()}},
          "models": {}}


def tune(name, fit, grid, label):
    trials = []
    for p in grid:
        t0 = time.perf_counter()
        v = evaluate(fit(X_tr, *p), "val", ("all",))["all"]["NDCG@10"]
        trials.append((p, v))
        log(name, p, "val NDCG@10 %.4f" % v, "%.1fs" % (time.perf_counter() - t0))
    best = max(trials, key=lambda x: x[1])[0]
    result["models"][name] = {"params": dict(zip(label, best)), "val": evaluate(fit(X_tr, *best), "val"),
                              "test": evaluate(fit(X_tv, *best), "test"),
                              "grid": [{"params": list(p), "val_ndcg": v} for p, v in trials]}
    log(name, "best", best, "test", result["models"][name]["test"]["all"])


if als_seeds:
    # Only the --als settings, once per seed: test NDCG@10 ("all"), model fit on train + val.
    out = {}
    for p in extra_als:
        for sd in als_seeds:
            v = evaluate(als_fit(X_tv, *p, seed=sd), "test", ("all",))["all"]["NDCG@10"]
            out.setdefault("%g,%g,%g" % p, {})[sd] = v
            log("als", p, "seed", sd, "test NDCG@10 %.4f" % v)
    print(json.dumps({"data": result["data"], "als_seeds": out}, indent=1))
    sys.exit(0)
result["models"]["popularity"] = {"params": {}, "val": evaluate(pop_fit(X_tr), "val"),
                                  "test": evaluate(pop_fit(X_tv), "test")}
log("popularity", result["models"]["popularity"]["test"]["all"])
if quick:
    als_grid = [(f, r, a) for f in (32, 64) for r in (0.01, 0.05) for a in (1, 10, 20)]
else:
    als_grid = [(f, r, a) for f in (32, 64, 128) for r in (0.01, 0.05, 0.1) for a in (1, 5, 10, 20, 40)]
tune("als", als_fit, als_grid, ("factors", "regularization", "alpha"))
for p in extra_als:
    key = "als@%g,%g,%g" % p
    result["models"][key] = {"params": dict(zip(("factors", "regularization", "alpha"), p)),
                             "val": evaluate(als_fit(X_tr, *p), "val"), "test": evaluate(als_fit(X_tv, *p), "test")}
    log(key, "val", result["models"][key]["val"]["all"]["NDCG@10"], "test", result["models"][key]["test"]["all"])
tune("itemknn_cosine", knn_fit, [(k,) for k in (10, 20, 50, 100, 200, 500)], ("K",))
if n_items <= 6000:
    tune("ease", ease_fit, [(l,) for l in (1, 5, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000)], ("lambda",))
print(json.dumps(result, indent=1))
