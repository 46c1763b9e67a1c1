# Sourced by every script: where tools, caches and build outputs live.
# SHOPAI_HOME is outside the clone on purpose, so a kept machine (and CI on it) reuses installed
# tools and compiled crates instead of rebuilding them from cold.
export SHOPAI_HOME="${SHOPAI_HOME:-$HOME/.shopai}"
export SHOPAI_TOOLS="$SHOPAI_HOME/tools"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SHOPAI_HOME/target}"
export PATH="$SHOPAI_TOOLS/bin:$SHOPAI_TOOLS/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
SHOPAI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SHOPAI_ROOT
export SHOPAI_BIN="$CARGO_TARGET_DIR/release/shopai"
export SHOPAI_PKG="$SHOPAI_ROOT/crates/wasm/pkg"
export SHOPAI_EDGE_WASM="$CARGO_TARGET_DIR/wasm32-wasip2/release/shopai_edge.wasm"
export WASMTIME_VERSION=48.0.8
# The wasm-bindgen CLI must equal the crate version pinned in crates/wasm/Cargo.toml.
WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$SHOPAI_ROOT/crates/wasm/Cargo.toml")"
export WASM_BINDGEN_VERSION

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
# The edge as spin.toml builds it (the `spin` feature), in its own target dir under $SHOPAI_HOME
# (default target-spin; SHOPAI_EDGE_BUNDLE in the environment builds a bundle in); prints the
# .wasm path.
spin_edge_wasm() {
  local dir="$SHOPAI_HOME/${1:-target-spin}"
  CARGO_TARGET_DIR="$dir" cargo build -q --release -p shopai-edge --target wasm32-wasip2 --features spin >&2
  echo "$dir/wasm32-wasip2/release/shopai_edge.wasm"
}
# A free TCP port on loopback, for the servers the scripts start.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# `shopai serve-embeddings` (all-MiniLM-L6-v2) on loopback, its log to $1, on port $2 (default: a
# free one): sets embed_port and embed_pid (the caller stops it) once /health answers. Environment
# given to the call (e.g. RAYON_NUM_THREADS) reaches the server.
serve_minilm() {
  embed_port=${2:-$(free_port)}
  "$SHOPAI_BIN" serve-embeddings --json --model-dir "$SHOPAI_MODEL_DIR" --addr "127.0.0.1:$embed_port" >"$1" 2>&1 &
  embed_pid=$!
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$embed_port/health" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "serve-embeddings did not start: $1"
}
# The shopai.toml that embeds through that server (OpenAI provider, the model's own 384 dimensions,
# no cost): port $1, embedding cache folder $2, texts per request $3 (default 256).
minilm_toml() {
  cat <<TOML
[openai]
base_url = "http://127.0.0.1:$1/v1"
[embeddings]
provider = "openai"
model = "all-MiniLM-L6-v2"
dimensions = 0
batch_size = ${3:-256}
usd_per_million_tokens = 0.0
cache_dir = "$2"
TOML
}
# Python tools for tests (moto_server as the S3-API server; boto3 + pyarrow as independent clients).
export SHOPAI_VENV="$SHOPAI_HOME/venv"
export SHOPAI_PYTHON="$SHOPAI_VENV/bin/python"
export MOTO_SERVER="$SHOPAI_VENV/bin/moto_server"
# checkov lives in a venv of its own (its pinned boto3/packaging conflict with the test tools).
export SHOPAI_CHECKOV_VENV="$SHOPAI_HOME/venv-checkov"
# all-MiniLM-L6-v2 for `shopai serve-embeddings` (scripts/fetch-model.sh puts it here).
export SHOPAI_MODEL_DIR="${SHOPAI_MODEL_DIR:-$SHOPAI_HOME/models/all-MiniLM-L6-v2}"
