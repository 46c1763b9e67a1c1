"""Write the development sets of ../shared/data as one uniform pair of files each, which both
`shopai ingest` and the peer script (recsys_peers.py) read:

  <out>/<name>/ratings.tsv   user_id:token  item_id:token  rating:float  timestamp:float, in source order
  <out>/<name>/catalog.jsonl one product per line ({"asin", "title", "category", "brand", "description"}),
                             only products with interactions, sorted by id (so that ShopAI's item
                             order, catalog order, equals the peers' order and ties break alike)

amazon-gift-cards-2018: every review line is kept (a user reviewing two variants of one card is a
repeated pair; the protocol splits every row). amazon-scientific-unisrec: each user's full
sequence is rebuilt from the leave-one-out files (first training history + every target in
order); there are no timestamps, so the position in the user's sequence is the time, as
EVAL_PROTOCOL.md says.
usage: devsets.py SHARED_DATA_DIR OUT_DIR"""
import gzip
import json
import os
import sys

src, out = sys.argv[1], sys.argv[2]


def write(name, rows, products):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ratings.tsv"), "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for u, i, r, t in rows:
            f.write(f"{u}\t{i}\t{r:g}\t{t}\n")
    used = {i for _, i, _, _ in rows}
    with open(os.path.join(d, "catalog.jsonl"), "w") as f:
        for asin in sorted(used):
            p = products.get(asin, {})
            f.write(json.dumps({"asin": asin, "title": p.get("title", ""), "category": p.get("category", []),
                                "brand": p.get("brand", ""), "description": p.get("description", "")}) + "\n")
    pairs = len({(u, i) for u, i, _, _ in rows})
    print(json.dumps({"set": name, "rows": len(rows), "distinct_pairs": pairs, "users": len({r[0] for r in rows}),
                      "items": len(used)}))


# --- Amazon Gift Cards 2018 (5-core reviews + metadata)
g = os.path.join(src, "amazon-gift-cards-2018")
rows = []
for line in gzip.open(os.path.join(g, "Gift_Cards_5.json.gz"), "rt"):
    r = json.loads(line)
    rows.append((r["reviewerID"], r["asin"], float(r["overall"]), int(r["unixReviewTime"])))
products = {}
for line in gzip.open(os.path.join(g, "meta_Gift_Cards.json.gz"), "rt"):
    p = json.loads(line)
    if p["asin"] not in products:
        products[p["asin"]] = p
write("amazon-gift-cards-2018", rows, products)

# --- Amazon Industrial & Scientific (UniSRec): sequences → one row per interaction
s = os.path.join(src, "amazon-scientific-unisrec")
items = {}
for line in open(os.path.join(s, "Scientific.item2index")):
    asin, idx = line.rstrip("\n").split("\t")
    items[idx] = asin
users = {}
for line in open(os.path.join(s, "Scientific.user2index")):
    uid, idx = line.rstrip("\n").split("\t")
    users[idx] = uid
parts = {}
for part in ("train", "valid", "test"):
    with open(os.path.join(s, f"Scientific.{part}.inter")) as f:
        next(f)
        for line in f:
            u, hist, target = line.rstrip("\n").split("\t")
            parts.setdefault(u, {}).setdefault(part, []).append((hist.split(), target))
seq = {}
for u, p in parts.items():
    # Training rows are listed newest first; the oldest one's history holds the first item(s).
    train = p.get("train", [])[::-1]
    first = train[0][0] if train else p["valid"][0][0]
    seq[u] = first + [t for _, t in train] + [p["valid"][0][1], p["test"][0][1]]
    hist, target = p["test"][0]
    assert seq[u][-1] == target and seq[u][:-1][-len(hist):] == hist, u  # ends like the published test row
rows = []
for u in sorted(seq, key=int):
    for pos, i in enumerate(seq[u]):
        rows.append((users[u], items[i], 1.0, pos))
texts = {}
with open(os.path.join(s, "Scientific.text")) as f:
    next(f)
    for line in f:
        asin, text = line.rstrip("\n").split("\t", 1)
        texts[asin] = {"title": text}
write("amazon-scientific-unisrec", rows, texts)
