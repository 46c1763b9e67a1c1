#!/usr/bin/env bash
# A/B two builds of the edge component under `wasmtime serve`, both serving at once and driven in
# alternation (3 s of wrk each, ROUNDS times), so the machine's drift falls on both alike: how
# optimizations of the edge were measured. Prints req/s per build (median) and the B/A ratio of
# each round.
# Usage: bash scripts/bench-edge-ab.sh A.wasm B.wasm [MIX, default popular] [ROUNDS, default 6] [-- wasmtime serve flags]
#   MIX: a traffic mix of scripts/soak-mix.py (search, recommend, popular, popular-get, mixed, anchor)
# Both get the ML-100k bundle (hashing embedder) and a shared folder (SHOPAI_BUNDLE_CACHE_DIR).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SHOPAI_ROOT"
[ $# -ge 2 ] || die "usage: bash scripts/bench-edge-ab.sh A.wasm B.wasm [MIX] [ROUNDS] [-- wasmtime serve flags]"
a=$(realpath "$1") b=$(realpath "$2")
shift 2
mix=popular rounds=6
[ $# -gt 0 ] && [ "$1" != -- ] && { mix=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { rounds=$1; shift; }
[ "${1:-}" = -- ] && shift
command -v wrk >/dev/null || die "wrk is not installed: bash scripts/setup.sh (or apt-get install wrk)"
bash scripts/fetch-demo-data.sh
out=$(mktemp -d)
servers=()
cleanup() { for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
"$SHOPAI_BIN" build --ratings data/ml-100k/ml-100k.inter --catalog data/ml-100k/ml-100k.item --out "$out/bundle.bin" --quiet >/dev/null
python3 scripts/soak-mix.py "$mix" data/ml-100k/ml-100k.item data/ml-100k/ml-100k.inter "$out/mix.lua"
# serve FLAGS... WASM -> sets $url (not in a subshell, so the PID reaches `servers` and cleanup)
serve() {
  local p; p=$(free_port)
  mkdir -p "$out/shared-$p"
  wasmtime serve -Scli -Sp3 -Wcomponent-model-async --addr "127.0.0.1:$p" --dir "$out::/data" \
    --env SHOPAI_BUNDLE_PATH=/data/bundle.bin --env "SHOPAI_BUNDLE_CACHE_DIR=/data/shared-$p" "$@" >/dev/null 2>&1 &
  servers+=($!)
  for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$p/health" && break; sleep 0.1; done
  url="http://127.0.0.1:$p"
}
serve "$@" "$a"; url_a=$url
serve "$@" "$b"; url_b=$url
rps() { wrk -t1 -c16 -d3s -s "$out/mix.lua" "$1" | sed -n 's/^Requests\/sec: *//p'; }
ra=() rb=()
for _ in $(seq "$rounds"); do
  ra+=("$(rps "$url_a")")
  rb+=("$(rps "$url_b")")
done
python3 - "$mix" "$a" "$b" "${ra[*]}" "${rb[*]}" <<'PY'
import statistics as s, sys
mix, a, b = sys.argv[1:4]
ra = [float(x) for x in sys.argv[4].split()]
rb = [float(x) for x in sys.argv[5].split()]
print(f"{mix}: A {a} {s.median(ra):,.0f} req/s, B {b} {s.median(rb):,.0f} req/s, B/A {s.median(rb) / s.median(ra):.3f}; "
      f"per round {sorted(round(y / x, 3) for x, y in zip(ra, rb))}")
PY
