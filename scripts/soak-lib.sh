# Shared by scripts/soak.sh and scripts/bench-hanging.sh (sourced): start a component under
# `wasmtime serve` or real Spin on a free loopback port, drive it with wrk for a bounded time, and
# print one Markdown table row. The caller sets: out (work dir with bundle.bin and the .lua mixes),
# pids (array: servers to kill on exit), dur (seconds per phase), conns (wrk connections).


# start RUNTIME WASM ENV... -> sets $url, $pid (the server process)
start() {
  local runtime=$1 wasm=$2; shift 2
  local p; p=$(free_port)
  url="http://127.0.0.1:$p"
  if [ "$runtime" = wasmtime ]; then
    local envs=(--env SHOPAI_BUNDLE_PATH=/data/bundle.bin)
    for e in "$@"; do envs+=(--env "$e"); done
    # WASMTIME_SERVE_FLAGS / SPIN_UP_FLAGS: extra flags for every server of the run (the trivial
    # component's too), to measure a deployment setting, e.g. "-O pooling-allocator" or
    # "--max-instance-reuse-count 4096" (both runtimes take the latter).
    # shellcheck disable=SC2086
    wasmtime serve -Scli -Sp3 -Wcomponent-model-async ${WASMTIME_SERVE_FLAGS:-} --addr "127.0.0.1:$p" --dir "$out::/data" "${envs[@]}" "$wasm" >"$out/server.log" 2>&1 &
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
# Loopback only: scripts/bench-hanging.sh points the embeddings endpoint at a local server.
allowed_outbound_hosts = ["http://127.0.0.1:*"]
# For builds with the spin feature (the shared bundle cache, breaker and answers).
key_value_stores = ["default"]
EOF
    mkdir -p "$out/data"; ln -f "$out/bundle.bin" "$out/data/bundle.bin"
    # shellcheck disable=SC2086
    spin up -f "$out/spin.toml" --listen "127.0.0.1:$p" ${SPIN_UP_FLAGS:-} "${envs[@]}" --direct-mounts >"$out/server.log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do curl -fs -o /dev/null "$url/health" 2>/dev/null && break; curl -fs -o /dev/null "$url/" 2>/dev/null && break; sleep 0.1; done
}

# Resident memory (KiB) of a process and all its descendants: `spin up` serves from a child
# (`spin trigger http`), so the parent's own RSS says nothing about the instances.
tree_rss() {
  local all=("$1") kids k total=0
  kids=$(pgrep -P "$1" 2>/dev/null || true)
  for k in $kids; do all+=($(pgrep -P "$k" 2>/dev/null || true) "$k"); done
  for k in "${all[@]}"; do
    local r; r=$(ps -o rss= -p "$k" 2>/dev/null | tr -d ' ' || true)
    total=$((total + ${r:-0}))
  done
  echo "$total"
}

# Stop the server and what it spawned (`spin up` leaves `spin trigger http` behind otherwise).
stop() {
  local kids; kids=$(pgrep -P "$pid" 2>/dev/null || true)
  kill "$pid" $kids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# phase LABEL MIX -> one table row
phase() {
  local label=$1 mix=$2 rss=() r
  curl -s -o /dev/null "$url/health" || true
  wrk -t1 -c"$conns" -d"${dur}s" --latency -s "$out/$mix.lua" "$url" >"$out/wrk.txt" 2>&1 &
  local w=$!
  while kill -0 "$w" 2>/dev/null; do
    rss+=("$(tree_rss "$pid")")
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

# as_deployed RUNTIME -> sets $wasm and $shared: the edge as deployed under RUNTIME (under Spin
# the `spin`-feature build in $spin_wasm, whose key-value store instances share; under wasmtime a
# shared writable folder), with that store emptied.
as_deployed() {
  wasm=$SHOPAI_EDGE_WASM shared=(SHOPAI_BUNDLE_CACHE_DIR=/data/shared)
  if [ "$1" = spin ]; then wasm=$spin_wasm shared=(); fi
  rm -rf "$out/shared" "$out/.spin"; mkdir -p "$out/shared"
}

# trivial_then_ranked RUNTIME: the trivial component ($anchor), then long-tail searches and
# recommendations with the answer cache off (every request ranked). After as_deployed.
trivial_then_ranked() {
  start "$1" "$anchor"; phase "trivial component, GET /" anchor; stop
  start "$1" "$wasm" SHOPAI_ANSWER_CACHE_ENTRIES=0 "${shared[@]}"
  phase "ShopAI /search, long-tail, answer cache off" search
  phase "ShopAI /recommendations, users + sessions, answer cache off" recommend
  stop
}

# prepare MIX... -> $out/bundle.bin (ML-100k, hashing embedder), $anchor (the trivial spin-sdk
# component of ../shared/anchors/edge, built) and $out/MIX.lua for each traffic mix of
# scripts/soak-mix.py.
prepare() {
  "$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
  local anchor_dir="$SHOPAI_ROOT/../shared/anchors/edge" mix
  anchor="$SHOPAI_HOME/anchor-target/wasm32-wasip2/release/edge_anchor.wasm"
  [ -d "$anchor_dir" ] || die "no trivial component at $anchor_dir"
  (cd "$anchor_dir" && CARGO_TARGET_DIR="$SHOPAI_HOME/anchor-target" cargo build -q --target wasm32-wasip2 --release)
  for mix in "$@"; do
    python3 scripts/soak-mix.py "$mix" data/ml-100k/ml-100k.item data/ml-100k/ml-100k.inter "$out/$mix.lua"
  done
}
