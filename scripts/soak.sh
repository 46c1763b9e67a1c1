#!/usr/bin/env bash
# Saturation soak of the edge beside the trivial spin-sdk component (../shared/anchors/edge), in
# one run, under `wasmtime serve` and (when `spin` is on PATH) real Spin: for each traffic mix of
# scripts/soak-mix.py, wrk (Debian) at saturation on loopback for a bounded time, then req/s,
# p50/p99, socket errors, 5xx/4xx and the server's memory (RSS, sampled every second) at the start,
# end and peak of the phase. ML-100k bundle with the hashing embedder (no upstream calls).
# Usage: bash scripts/soak.sh [SECONDS per phase, default 20] [CONNECTIONS, default 16]
# Needs: wrk (apt-get install wrk), wasmtime (scripts/setup.sh), the edge built (scripts/build.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
dur=${1:-20}
conns=${2:-16}
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[ -f "$SHOPAI_EDGE_WASM" ] || die "build the edge first: bash scripts/build.sh"
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
"$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
anchor_dir="$SHOPAI_ROOT/../shared/anchors/edge"
anchor="$SHOPAI_HOME/anchor-target/wasm32-wasip2/release/edge_anchor.wasm"
[ -d "$anchor_dir" ] || die "no trivial component at $anchor_dir"
(cd "$anchor_dir" && CARGO_TARGET_DIR="$SHOPAI_HOME/anchor-target" cargo build -q --target wasm32-wasip2 --release)
for mix in anchor search recommend popular mixed; do
  python3 scripts/soak-mix.py "$mix" data/ml-100k/ml-100k.item data/ml-100k/ml-100k.inter "$out/$mix.lua"
done
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start RUNTIME WASM ENV... -> sets $url, $pid (the server process)
start() {
  local runtime=$1 wasm=$2; shift 2
  local p; p=$(port)
  url="http://127.0.0.1:$p"
  if [ "$runtime" = wasmtime ]; then
    local envs=(--env SHOPAI_BUNDLE_PATH=/data/bundle.bin)
    for e in "$@"; do envs+=(--env "$e"); done
    wasmtime serve -Scli -Sp3 -Wcomponent-model-async --addr "127.0.0.1:$p" --dir "$out::/data" "${envs[@]}" "$wasm" >"$out/server.log" 2>&1 &
  else
    local envs=(-e SHOPAI_BUNDLE_PATH=/data/bundle.bin)
    for e in "$@"; do envs+=(-e "$e"); done
    cat >"$out/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "soak"
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "$wasm"
files = [{ source = "$out/data", destination = "/data" }]
EOF
    mkdir -p "$out/data"; ln -f "$out/bundle.bin" "$out/data/bundle.bin"
    spin up -f "$out/spin.toml" --listen "127.0.0.1:$p" "${envs[@]}" --direct-mounts >"$out/server.log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do curl -fs -o /dev/null "$url/health" 2>/dev/null && break; curl -fs -o /dev/null "$url/" 2>/dev/null && break; sleep 0.1; done
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# phase LABEL MIX -> one table row
phase() {
  local label=$1 mix=$2 rss=() r
  curl -s -o /dev/null "$url/health" || true
  wrk -t1 -c"$conns" -d"${dur}s" --latency -s "$out/$mix.lua" "$url" >"$out/wrk.txt" 2>&1 &
  local w=$!
  while kill -0 "$w" 2>/dev/null; do
    rss+=("$(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ' || echo 0)")
    sleep 1
  done
  wait "$w" || true
  r=$(grep RESULT "$out/wrk.txt" || echo "RESULT rps=0 p50_ms=0 p99_ms=0 requests=0 socket_errors=0 s5xx=0 s4xx=0")
  python3 - "$label" "$r" "${rss[*]:-0}" <<'PY'
import sys
label, r, rss = sys.argv[1], dict(kv.split("=") for kv in sys.argv[2].split()[1:]), [int(x) / 1024 for x in sys.argv[3].split() if x]
print(f"| {label} | {float(r['rps']):,.0f} | {float(r['p50_ms']):.2f} | {float(r['p99_ms']):.2f} | {r['requests']} | {r['socket_errors']} | {r['s5xx']} | {r['s4xx']} | {rss[0]:.0f} → {rss[-1]:.0f} (peak {max(rss):.0f}) |")
PY
}

header() {
  echo
  echo "### $1 — wrk -t1 -c$conns -d${dur}s per row"
  echo
  echo "| component, mix | req/s | p50 ms | p99 ms | requests | socket errors | 5xx | 4xx | server RSS MiB start → end (peak) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
}

runtimes=(wasmtime)
command -v spin >/dev/null && runtimes+=(spin) || echo "(spin not on PATH: Spin rows skipped)" >&2
for rt in "${runtimes[@]}"; do
  header "$rt"
  start "$rt" "$anchor"; phase "trivial component, GET /" anchor; stop
  start "$rt" "$SHOPAI_EDGE_WASM" SHOPAI_ANSWER_CACHE_ENTRIES=0
  phase "ShopAI /search, long-tail, answer cache off" search
  phase "ShopAI /recommendations, users + sessions, answer cache off" recommend
  stop
  start "$rt" "$SHOPAI_EDGE_WASM"
  phase "ShopAI /search, long-tail (answer cache on)" search
  phase "ShopAI /recommendations, users + sessions (answer cache on)" recommend
  phase "ShopAI popular searches (answer cache on)" popular
  phase "ShopAI realistic mix incl. 5% malformed (answer cache on)" mixed
  stop
  start "$rt" "$anchor"; phase "trivial component, GET / (again, drift check)" anchor; stop
done
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); wasmtime $(wasmtime --version | cut -d' ' -f2)$(command -v spin >/dev/null && echo ", $(spin --version)")"
