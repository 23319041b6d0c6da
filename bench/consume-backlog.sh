#!/usr/bin/env bash
# Consume throughput from a backlog (the bench's own consumers keep pace with its producers, so
# they never show a consume maximum): starts a release broker on loopback with a fresh data
# directory, fills one 16-partition topic with the bench at max rate for DURATION_S seconds of
# 1 KB records (acks=all, fsync), then reads the whole topic from the beginning with kcat
# (librdkafka) RUNS times and prints MB/s of record payload per run. Stops the broker by PID.
#
# Usage: bench/consume-backlog.sh [DURATION_S=15] [RUNS=2]
# Needs: cargo build --release -p eddy-broker -p eddy-bench (with CARGO_TARGET_DIR set as for
# that build), kcat.
set -euo pipefail

DURATION_S=${1:-15}
RUNS=${2:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BROKER=$TARGET/release/broker
BENCH=$TARGET/release/bench
[[ -x $BROKER && -x $BENCH ]] || {
	echo "build first: cargo build --release -p eddy-broker -p eddy-bench" >&2
	exit 1
}
command -v kcat >/dev/null || {
	echo "kcat is missing: scripts/install-test-deps.sh" >&2
	exit 1
}

WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
ADMIN=$(free_port)
"$BROKER" --data-dir "$WORK/data" --listeners "PLAINTEXT://127.0.0.1:$PORT" \
	--admin-addr "127.0.0.1:$ADMIN" --set num.partitions=16 >"$WORK/broker.log" 2>&1 &
PID=$!
cleanup() {
	kill "$PID" 2>/dev/null || true
	for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break
	sleep 0.1
done

echo "filling the backlog ($DURATION_S s at max rate)..." >&2
"$BENCH" run "$ROOT/bench/workloads/1-topic-16-partitions-1kb.yaml" --bootstrap "127.0.0.1:$PORT" \
	--rate 0 --warmup-s 1 --duration-s "$DURATION_S" --skip-limits --results "$WORK/results" \
	>"$WORK/bench.log" 2>&1
TOPIC=$(kcat -b "127.0.0.1:$PORT" -L | grep -o 'bench-[^"]*' | head -1)
ACKED=$(python3 -c "import glob, json; print(json.load(open(glob.glob('$WORK/results/*/result.json')[0]))['totals']['acked'])")
BYTES=$((ACKED * 1024))
PUBLISH=$(python3 -c "import glob, json; print(round(json.load(open(glob.glob('$WORK/results/*/result.json')[0]))['publish']['mb_per_s'], 1))")
echo "fill: publish $PUBLISH MB/s (max rate, acks=all)"
echo "topic $TOPIC: $ACKED records; machine: $(uptime)" >&2
for run in $(seq 1 "$RUNS"); do
	start=$(date +%s.%N)
	timeout 300 kcat -b "127.0.0.1:$PORT" -C -t "$TOPIC" -o beginning -e -q \
		-X fetch.max.bytes=52428800 -X queued.max.messages.kbytes=1048576 >/dev/null
	end=$(date +%s.%N)
	python3 -c "b=$BYTES; t=$end-$start; print(f'run $run: {b/1e6:.0f} MB in {t:.1f} s = {b/t/1e6:.0f} MB/s')"
done
