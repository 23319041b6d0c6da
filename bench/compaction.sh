#!/usr/bin/env bash
# Log compaction benchmarks against one broker binary (bench/compaction.py drives it):
#   bench/compaction.sh [path/to/broker] [commits] [records]
# 1. cleaner throughput: <records> 1 KiB records over 10,000 keys written, then the topic is
#    switched to cleanup.policy=compact; the "log cleaned" log line gives MB/s of log cleaned;
# 2. coordinator load time: <commits> offset commits of one group, the broker restarted, and
#    "consumer groups recovered" timed, once with log.cleaner.enable=false (the whole history is
#    replayed) and once with the cleaner (only the live state and the uncleaned tail).
# Each broker runs on free loopback ports with a temporary data directory, stopped by PID.
set -euo pipefail
broker=${1:-target/release/broker}
commits=${2:-1000000}
records=${3:-300000}
here=$(cd "$(dirname "$0")" && pwd)
py=${EDDY_CACHE:-$HOME/.cache/eddy}/venv/bin/python
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d)
pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap 'stop; rm -rf "$dir"' EXIT
port=$(free_port); admin=$(free_port)
start() { # data dir, extra --set flags...
    local data=$1; shift
    local sets=()
    for s in "$@"; do sets+=(--set "$s"); done
    RUST_LOG=info "$broker" --data-dir "$data" --listeners "PLAINTEXT://127.0.0.1:$port" \
        --admin-addr "127.0.0.1:$admin" "${sets[@]}" >>"$data.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "broker did not start"; exit 1
}
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }

echo "== cleaner throughput"
start "$dir/t" "log.cleaner.backoff.ms=200"
"$py" "$here/compaction.py" throughput "127.0.0.1:$port" "$records" 10000 1024
for _ in $(seq 1 1200); do
    plain "$dir/t.log" | grep -q "log cleaned.*bench-compact" && break
    sleep 0.25
done
plain "$dir/t.log" | grep "log cleaned.*bench-compact" | head -1
du -sh "$dir"/t/bench-compact-0
stop; rm -rf "$dir/t"

for mode in disabled enabled; do
    echo "== coordinator load, $commits commits, cleaner $mode"
    flag=true; [ "$mode" = disabled ] && flag=false
    start "$dir/c-$mode" "log.cleaner.enable=$flag" "log.cleaner.backoff.ms=1000" \
        "offsets.topic.num.partitions=1" "offsets.topic.segment.bytes=1048576"
    "$py" "$here/compaction.py" commits "127.0.0.1:$port" "$commits"
    # Let the cleaner catch up with the tail (it runs every second).
    [ "$mode" = enabled ] && sleep 5
    du -sh "$dir/c-$mode/__consumer_offsets-0"
    stop
    start "$dir/c-$mode" "log.cleaner.enable=$flag" "offsets.topic.num.partitions=1"
    plain "$dir/c-$mode.log" | grep "consumer groups recovered" | tail -1
    stop; rm -rf "$dir/c-$mode"
done
