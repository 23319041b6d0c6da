#!/usr/bin/env bash
# Topic compression.type cost (bench/recompress.py) against one broker binary:
#   bench/recompress.sh [path/to/broker] [records]
# Starts the broker on a free loopback port with a temporary data directory and stops it by
# PID at the end.
set -euo pipefail
broker=${1:-target/release/broker}
count=${2:-100000}
here=$(cd "$(dirname "$0")" && pwd)
py=${EDDY_CACHE:-$HOME/.cache/eddy}/venv/bin/python
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$broker" --data-dir "$dir/data" --listeners "PLAINTEXT://127.0.0.1:$port" \
    --admin-addr "127.0.0.1:$admin" >"$dir/broker.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break
    sleep 0.1
done
"$py" "$here/recompress.py" "127.0.0.1:$port" "$pid" "$dir/data" "$count"
