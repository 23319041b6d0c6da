#!/usr/bin/env bash
# Issue 14's security benchmark in one run: one release broker on loopback with PLAINTEXT, SSL
# and SASL_SSL (SCRAM-SHA-512) listeners and a fresh data directory; certificates are made at run
# time by `bench certs` (rcgen). For each protocol, on the standard 1 KB workload (one topic, 16
# partitions, acks=all, fsync): max-rate produce MB/s (DURATION_S seconds), consume MB/s (kcat
# reading that whole backlog from the beginning), and produce p99 at a fixed moderate rate
# (P99_RATE msg/s); the broker's CPU-seconds per GB for each. Then the SCRAM-SHA-512 connection
# set-up rate over SASL_SSL: `bench connect-rate` creates, authenticates (TLS handshake + SCRAM)
# and drops librdkafka clients for CONNECT_S seconds; the broker counts the connections
# (eddy_connections_total) and its CPU time comes from /proc/<pid>/stat. Prints one table.
# Client and broker share this machine's cores: the client's crypto counts against the broker.
#
# Usage: bench/security.sh [DURATION_S=10] [P99_RATE=20000] [CONNECT_S=10] [PROTOCOLS="PLAINTEXT SSL SASL_SSL"]
# BROKER_ARGS adds broker arguments, e.g. "--set ssl.cipher.suites=TLS_AES_256_GCM_SHA384".
# Needs: cargo build --release -p eddy-broker -p eddy-bench (with CARGO_TARGET_DIR set as for
# that build), kcat.
set -euo pipefail

DURATION_S=${1:-10}
P99_RATE=${2:-20000}
CONNECT_S=${3:-10}
PROTOCOLS=${4:-PLAINTEXT SSL SASL_SSL}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BROKER=${BROKER_BIN:-$TARGET/release/broker}
BENCH=${BENCH_BIN:-$TARGET/release/bench}
WORKLOAD=$ROOT/bench/workloads/1-topic-16-partitions-1kb.yaml
USER_NAME=bench
USER_PASSWORD=bench-secret
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
declare -A PORTS
for p in PLAINTEXT SSL SASL_SSL; do PORTS[$p]=$(free_port); done
ADMIN=$(free_port)
"$BENCH" certs "$WORK/certs"
"$BROKER" --data-dir "$WORK/data" \
	--listeners "PLAINTEXT://127.0.0.1:${PORTS[PLAINTEXT]},SSL://127.0.0.1:${PORTS[SSL]},SASL_SSL://127.0.0.1:${PORTS[SASL_SSL]}" \
	--admin-addr "127.0.0.1:$ADMIN" --set num.partitions=16 \
	--set "ssl.keystore.location=$WORK/certs/server.pem" \
	--set sasl.enabled.mechanisms=SCRAM-SHA-512 \
	--add-scram "SCRAM-SHA-512=[name=$USER_NAME,password=$USER_PASSWORD]" ${BROKER_ARGS:-} >"$WORK/broker.log" 2>&1 &
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
curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null || {
	echo "the broker did not become ready:" >&2
	tail -20 "$WORK/broker.log" >&2
	exit 1
}

# The librdkafka properties of each protocol's clients.
props() {
	case $1 in
	PLAINTEXT) ;;
	SSL) echo "security.protocol=ssl ssl.ca.location=$WORK/certs/ca.crt" ;;
	SASL_SSL) echo "security.protocol=sasl_ssl ssl.ca.location=$WORK/certs/ca.crt sasl.mechanisms=SCRAM-SHA-512 sasl.username=$USER_NAME sasl.password=$USER_PASSWORD" ;;
	esac
}
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
connections_total() { curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk '/^eddy_connections_total /{ print $2 }'; }
topics() { kcat -b "127.0.0.1:${PORTS[PLAINTEXT]}" -L | grep -o 'bench-[^"]*' | sort || true; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# bench_run NAME RATE PROTOCOL: one bench run; echoes its result.json.
bench_run() {
	local name=$1 rate=$2 proto=$3 x=()
	for kv in $(props "$proto"); do x+=(-X "$kv"); done
	"$BENCH" run "$WORKLOAD" --bootstrap "127.0.0.1:${PORTS[$proto]}" "${x[@]}" --rate "$rate" \
		--warmup-s 1 --duration-s "$DURATION_S" --skip-limits --results "$WORK/results-$name" \
		>"$WORK/bench-$name.log" 2>&1 || {
		echo "[$name] the bench failed:" >&2
		grep -v "^ *[0-9]*: \|^  *at " "$WORK/bench-$name.log" | tail -15 >&2
		return 1
	}
	ls "$WORK/results-$name"/*/result.json | head -1
}

declare -A PRODUCE CONSUME P99 PCPU CCPU
for proto in $PROTOCOLS; do
	echo "[$proto] produce at max rate for $DURATION_S s..." >&2
	before=$(topics)
	t0=$(ticks)
	result=$(bench_run "$proto-max" 0 "$proto")
	t1=$(ticks)
	topic=$(comm -13 <(echo "$before") <(topics) | head -1)
	acked=$(json "$result" "d['totals']['acked']")
	bytes=$((acked * 1024))
	PRODUCE[$proto]=$(json "$result" "round(d['publish']['mb_per_s'], 1)")
	PCPU[$proto]=$(python3 -c "print(round(($t1-$t0)/$HZ/($bytes/1e9), 1))")

	echo "[$proto] consume the $((bytes / 1000000)) MB backlog with kcat..." >&2
	x=()
	for kv in $(props "$proto"); do x+=(-X "$kv"); done
	t0=$(ticks)
	start=$(date +%s.%N)
	timeout 300 kcat -b "127.0.0.1:${PORTS[$proto]}" "${x[@]}" -C -t "$topic" -o beginning -e -q \
		-X fetch.max.bytes=52428800 -X queued.max.messages.kbytes=1048576 >/dev/null
	end=$(date +%s.%N)
	t1=$(ticks)
	CONSUME[$proto]=$(python3 -c "print(round($bytes/($end-$start)/1e6, 1))")
	CCPU[$proto]=$(python3 -c "print(round(($t1-$t0)/$HZ/($bytes/1e9), 1))")

	echo "[$proto] produce at $P99_RATE msg/s for $DURATION_S s..." >&2
	result=$(bench_run "$proto-p99" "$P99_RATE" "$proto")
	P99[$proto]=$(json "$result" "f\"{d['publish_latency']['p99_ms']:.1f} ms at {d['publish']['mb_per_s']:.0f} MB/s\"")
done

CONNECT=""
if [[ " $PROTOCOLS " == *" SASL_SSL "* ]]; then
	echo "[SASL_SSL] SCRAM-SHA-512 connection set-up for $CONNECT_S s..." >&2
	x=()
	for kv in $(props SASL_SSL); do x+=(-X "$kv"); done
	c0=$(connections_total)
	t0=$(ticks)
	read -r sessions failures secs < <("$BENCH" connect-rate --bootstrap "127.0.0.1:${PORTS[SASL_SSL]}" \
		"${x[@]}" --duration-s "$CONNECT_S" --threads 4 2>"$WORK/connect.log")
	t1=$(ticks)
	c1=$(connections_total)
	CONNECT=$(python3 -c "
c=$c1-$c0; cpu=($t1-$t0)/$HZ; s=$secs
print(f'{$sessions} clients ({$failures} failed), {c} connections in {s:.1f} s: {c/s:.0f} connections/s; broker {cpu:.2f} CPU-s = {c/max(cpu,1e-9):.0f} connections per broker CPU-second')")
fi

echo
echo "machine: $(nproc) cores, $(uptime | sed 's/^ *//'); client and broker share the cores"
echo "1 KB records, 16 partitions, acks=all, fsync; produce max over $DURATION_S s; consume = kcat reading that backlog"
echo
printf '| %-9s | %-15s | %-15s | %-28s | %-18s | %-18s |\n' protocol "produce MB/s" "consume MB/s" "produce p99 at $P99_RATE msg/s" "broker CPU-s/GB in" "broker CPU-s/GB out"
printf '| %-9s | %-15s | %-15s | %-28s | %-18s | %-18s |\n' --- --- --- --- --- ---
for proto in $PROTOCOLS; do
	rel() { [[ $proto == PLAINTEXT || -z ${2:-} ]] && echo "$1" || python3 -c "print(f'$1 ({$1/$2*100:.0f} %)')"; }
	printf '| %-9s | %-15s | %-15s | %-28s | %-18s | %-18s |\n' "$proto" \
		"$(rel "${PRODUCE[$proto]}" "${PRODUCE[PLAINTEXT]:-}")" "$(rel "${CONSUME[$proto]}" "${CONSUME[PLAINTEXT]:-}")" \
		"${P99[$proto]}" "${PCPU[$proto]}" "${CCPU[$proto]}"
done
[[ -n $CONNECT ]] && echo && echo "SCRAM-SHA-512 over SASL_SSL: $CONNECT"
exit 0
