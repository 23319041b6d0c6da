#!/usr/bin/env bash
# Benchmarks the API with wrk (Debian's `wrk`): GET /v1/clusters (a page of 20 active clusters)
# and POST /v1/clusters (cluster creation, each request a new name), on SQLite and PostgreSQL.
# The server is tests/bench_server.rs: the real router and database, with the test-only recording
# backend in place of Kubernetes. Usage: api/bench/run.sh [seconds per run, default 10]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$EDDY_CACHE/target}"
dur="${1:-10}"
"$root/scripts/apt-install.sh" wrk postgresql
cd "$root"
cargo test -q -p eddy-api --test bench_server --no-run
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/create.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
counter = 0
request = function()
  counter = counter + 1
  local name = string.format("b-%d-%d-%d", tid, os.time(), counter)
  return wrk.format("POST", "/v1/clusters", nil,
    '{"name":"' .. name .. '","plan_id":"shared-small","deletion_protection":false}')
end
LUA
for db in sqlite postgres; do
  info="$work/$db.info"
  EDDY_BENCH_DB=$db EDDY_BENCH_INFO="$info" EDDY_BENCH_SECS=$((4 * dur + 60)) \
    cargo test -q -p eddy-api --test bench_server -- --ignored --nocapture >"$work/$db.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do [[ -s $info ]] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  [[ -s $info ]] || { echo "bench server ($db) did not start:"; tail -20 "$work/$db.log"; exit 1; }
  addr="$(sed -n 1p "$info")" token="$(sed -n 2p "$info")"
  auth=(-H "Authorization: Bearer $token" -H "Content-Type: application/json")
  echo "== $db: GET /v1/clusters (20 clusters per page), 2 threads, 16 connections, ${dur}s"
  wrk -t2 -c16 -d"${dur}s" --latency "${auth[@]}" "http://$addr/v1/clusters" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx'
  echo "== $db: POST /v1/clusters (create), 2 threads, 8 connections, ${dur}s"
  wrk -t2 -c8 -d"${dur}s" --latency -s "$work/create.lua" "${auth[@]}" "http://$addr/v1/clusters" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx'
  rm -f "$info" # the server stops when its info file is gone (and stops its PostgreSQL by PID)
  wait $pid || true
done
