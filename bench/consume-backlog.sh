#!/usr/bin/env bash
# Consume throughput from a backlog (the bench's own consumers keep pace with its producers, so
# they never show a consume maximum): starts a release broker on loopback with a fresh data
# directory, fills one 16-partition topic with the bench at max rate for DURATION_S seconds of
# 1 KB records (acks=all, fsync), then reads the whole topic from the beginning with kcat
# (librdkafka) RUNS times and prints MB/s of record payload per run. Stops the broker by PID.
#
# Usage: bench/consume-backlog.sh [DURATION_S=15] [RUNS=2] [ssl]
# With `ssl` the broker also gets an SSL listener (a throwaway CA and server certificate made
# with the openssl CLI) and the whole measurement (fill, then consume) runs over PLAINTEXT and
# then over SSL, on the same broker in one run.
# With PERF_DATA=FILE, `perf record -g` samples the broker during the first consume run of each
# measurement into FILE.<name> (read it with `perf report -i FILE.<name> --no-children`).
# BROKER_BIN / BENCH_BIN override the binaries (to compare builds side by side).
# Needs: cargo build --release -p eddy-broker -p eddy-bench (with CARGO_TARGET_DIR set as for
# that build), kcat.
set -euo pipefail

DURATION_S=${1:-15}
RUNS=${2:-2}
MODE=${3:-plaintext}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BROKER=${BROKER_BIN:-$TARGET/release/broker}
BENCH=${BENCH_BIN:-$TARGET/release/bench}
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
LISTENERS="PLAINTEXT://127.0.0.1:$PORT"
SSL_ARGS=()
if [[ $MODE == ssl ]]; then
	SSL_PORT=$(free_port)
	LISTENERS="$LISTENERS,SSL://127.0.0.1:$SSL_PORT"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
		-keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$WORK/san.ext"
	openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
		-CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.crt" 2>/dev/null
	cat "$WORK/server.key" "$WORK/server.crt" >"$WORK/server.pem"
	SSL_ARGS=(--set "ssl.keystore.location=$WORK/server.pem")
fi
"$BROKER" --data-dir "$WORK/data" --listeners "$LISTENERS" \
	--admin-addr "127.0.0.1:$ADMIN" --set num.partitions=16 "${SSL_ARGS[@]}" >"$WORK/broker.log" 2>&1 &
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

# measure NAME BOOTSTRAP [librdkafka key=value...]: fill a new topic at max rate, then read it.
measure() {
	local name=$1 bootstrap=$2
	shift 2
	local kcat_x=()
	for kv in "$@"; do
		kcat_x+=(-X "$kv")
	done
	local results="$WORK/results-$name"
	local before
	before=$(kcat -b "127.0.0.1:$PORT" -L | grep -o 'bench-[^"]*' | sort || true)
	echo "[$name] filling the backlog ($DURATION_S s at max rate)..." >&2
	"$BENCH" run "$ROOT/bench/workloads/1-topic-16-partitions-1kb.yaml" \
		--bootstrap "$bootstrap" "${kcat_x[@]}" --rate 0 --warmup-s 1 --duration-s "$DURATION_S" --skip-limits \
		--results "$results" >"$WORK/bench-$name.log" 2>&1 || {
		echo "[$name] the bench failed:" >&2
		grep -v "^ *[0-9]*: \|^  *at " "$WORK/bench-$name.log" | tail -15 >&2
		return 1
	}
	local topic
	topic=$(comm -13 <(echo "$before") <(kcat -b "127.0.0.1:$PORT" -L | grep -o 'bench-[^"]*' | sort) | head -1)
	local result
	result=$(ls "$results"/*/result.json | head -1)
	local acked publish
	acked=$(python3 -c "import json; print(json.load(open('$result'))['totals']['acked'])")
	publish=$(python3 -c "import json; print(round(json.load(open('$result'))['publish']['mb_per_s'], 1))")
	local bytes=$((acked * 1024))
	echo "[$name] fill: publish $publish MB/s (max rate, acks=all)"
	echo "[$name] topic $topic: $acked records; machine: $(uptime)" >&2
	for run in $(seq 1 "$RUNS"); do
		local start end
		local perf_pid=
		if [[ -n ${PERF_DATA:-} && $run == 1 ]]; then
			perf record -g -o "$PERF_DATA.$name" -p "$PID" >/dev/null 2>&1 &
			perf_pid=$!
			sleep 0.5
		fi
		local cpu_before
		cpu_before=$(awk '{print $14 + $15}' /proc/$PID/stat)
		start=$(date +%s.%N)
		timeout 300 kcat -b "$bootstrap" "${kcat_x[@]}" -C -t "$topic" -o beginning -e -q \
			-X fetch.max.bytes=52428800 -X queued.max.messages.kbytes=1048576 >/dev/null
		end=$(date +%s.%N)
		local cpu_after
		cpu_after=$(awk '{print $14 + $15}' /proc/$PID/stat)
		if [[ -n $perf_pid ]]; then
			kill -INT "$perf_pid" 2>/dev/null || true
			wait "$perf_pid" 2>/dev/null || true
		fi
		local tick
		tick=$(getconf CLK_TCK)
		python3 -c "b=$bytes; t=$end-$start; cpu=($cpu_after-$cpu_before)/$tick; print(f'[$name] consume run $run: {b/1e6:.0f} MB in {t:.1f} s = {b/t/1e6:.0f} MB/s; broker CPU {cpu:.2f} s = {cpu/(b/1e9):.2f} CPU-s per GB; load average {open(\"/proc/loadavg\").read().split()[0]}')"
	done
}

measure PLAINTEXT "127.0.0.1:$PORT"
if [[ $MODE == ssl ]]; then
	measure SSL "127.0.0.1:$SSL_PORT" security.protocol=ssl "ssl.ca.location=$WORK/ca.crt"
fi
