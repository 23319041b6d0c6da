#!/usr/bin/env bash
# Side-by-side broker benchmark (issue 19): for each target and durability mode, on the standard
# workload (bench/workloads/1-topic-16-partitions-1kb.yaml, 1 KB records, 16 partitions,
# acks=all), measures
#   1. produce at max rate (MB/s, and the broker's CPU seconds per GB produced),
#   2. produce at half that rate: publish p99 / p99.9 and end-to-end p99,
#   3. consume of the max-rate topic from the beginning with kcat (MB/s, CPU seconds per GB),
# with the machine's disk (1 MiB writes + fdatasync), page-cache write (no fsync) and loopback
# TCP limits measured in the same run (by the first bench run). Topics are created through the
# admin API (CreateTopics) by the bench, so any Kafka-compatible broker can be compared.
#
# Usage:
#   bench/side-by-side.sh                       # Eddy: RF=1 (one broker) and RF=3 (three local
#                                               # brokers in cluster mode), modes fsync and
#                                               # replicated (ack.durability)
#   BOOTSTRAP=host:port [RF=1] [NAME=other] [BROKER_PIDS="pid..."] [TOPIC_CONFIG="k=v ..."] \
#     bench/side-by-side.sh                     # any broker reachable at an address
# Env: DURATION_S (default 10), BROKER_BIN, BENCH_BIN (default: $CARGO_TARGET_DIR/release/...),
#      TARGETS (default "rf1 rf3"), MODES (default "fsync replicated").
# Prints a Markdown table, and with PLOT=file.svg draws it (bench/side_by_side_plot.py); the
# bench's result folders stay in $RESULTS (default: a temp dir removed unless KEEP_RESULTS=1).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BROKER=${BROKER_BIN:-$TARGET_DIR/release/broker}
BENCH=${BENCH_BIN:-$TARGET_DIR/release/bench}
WORKLOAD=$ROOT/bench/workloads/1-topic-16-partitions-1kb.yaml
DURATION_S=${DURATION_S:-10}
PY=${PYTHON:-python3}
command -v kcat >/dev/null || { echo "kcat is missing" >&2; exit 1; }
[[ -x $BENCH ]] || { echo "build first: cargo build --release -p eddy-bench" >&2; exit 1; }

WORK=$(mktemp -d)
RESULTS=${RESULTS:-$WORK/results}
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	if [[ ${KEEP_RESULTS:-0} == 1 ]]; then
		echo "results kept in $RESULTS" >&2
		find "$WORK" -mindepth 1 -maxdepth 1 ! -name results -exec rm -rf {} +
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# CPU seconds (user + system) of the given pids, summed.
cpu_s() {
	local total=0 t
	for p in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
		total=$((total + t))
	done
	$PY -c "print($total / $(getconf CLK_TCK))"
}

# start_eddy N: starts N release brokers (cluster mode when N > 1); sets BS and BROKER_PIDS.
start_eddy() {
	local n=$1 voters="" i
	local ports=() cports=() aports=()
	for i in $(seq 0 $((n - 1))); do
		ports+=("$(free_port)")
		cports+=("$(free_port)")
		aports+=("$(free_port)")
		voters+="${voters:+,}$i@127.0.0.1:${cports[$i]}"
	done
	BROKER_PIDS=""
	BS=""
	for i in $(seq 0 $((n - 1))); do
		local args=(--data-dir "$WORK/data-$n-$i" --listeners "PLAINTEXT://127.0.0.1:${ports[$i]}"
			--admin-addr "127.0.0.1:${aports[$i]}")
		if ((n > 1)); then
			args+=(--node-id "$i" --controller-quorum-voters "$voters")
		fi
		RUST_LOG=warn "$BROKER" "${args[@]}" >"$WORK/broker-$n-$i.log" 2>&1 &
		PIDS+=($!)
		BROKER_PIDS+=" $!"
		BS+="${BS:+,}127.0.0.1:${ports[$i]}"
	done
	for _ in $(seq 1 300); do # bounded: 30 s for every broker to register
		[[ $(kcat -b "$BS" -L 2>/dev/null | grep -c '^  broker ') == "$n" ]] && break
		sleep 0.1
	done
	sleep 1
}

stop_eddy() {
	for p in $BROKER_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $BROKER_PIDS; do
		for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"/data-*
}

# Lets the page cache's dirty data of the previous phase reach the disk before the next phase
# starts (bounded): otherwise a phase measures the previous one's writeback, not its own load.
settle() { timeout 120 sync || true; }

json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

LIMITS_DONE=0
RESTART_WITH="" # Eddy targets: the broker count to restart with before the half-rate phase
ROWS=()
# measure NAME RF [topic config k=v ...]
measure() {
	local name=$1 rf=$2
	shift 2
	local tc=()
	for kv in "$@"; do tc+=(--topic-config "$kv"); done
	local limits=(--skip-limits)
	[[ $LIMITS_DONE == 0 ]] && limits=()
	local before_topics
	before_topics=$(kcat -b "$BS" -L | grep -o 'bench-[^"]*' | sort || true)
	local c0 c1 c2 c3
	settle
	# shellcheck disable=SC2086
	c0=$(cpu_s $BROKER_PIDS)
	"$BENCH" run "$WORKLOAD" --bootstrap "$BS" --rate 0 --warmup-s 2 --duration-s "$DURATION_S" \
		--replication-factor "$rf" "${tc[@]}" "${limits[@]}" --results "$RESULTS/$name-max" \
		>"$WORK/bench.log" 2>&1 || { tail -20 "$WORK/bench.log" >&2; return 1; }
	# shellcheck disable=SC2086
	c1=$(cpu_s $BROKER_PIDS)
	local max
	max=$(ls "$RESULTS/$name-max"/*/result.json | head -1)
	if [[ $LIMITS_DONE == 0 ]]; then
		LIMITS_DONE=1
		echo "machine (same run): disk $(json "$max" "round(d['machine']['disk_fsync_write_mb_s'])") MB/s (1 MiB writes + fdatasync), loopback $(json "$max" "round(d['machine']['loopback_tcp_mb_s'])") MB/s, page-cache writes $(json "$max" "round(d['machine'].get('page_cache_write_mb_s', 0))") MB/s (1 MiB, no fsync), $(json "$max" "d['machine']['cpus']") CPUs; $(uptime)"
	fi
	local acked pub_mb rate
	acked=$(json "$max" "d['totals']['acked']")
	pub_mb=$(json "$max" "round(d['publish']['mb_per_s'], 1)")
	rate=$(json "$max" "int(d['publish']['msgs_per_s'] / 2)")
	local topic
	topic=$(comm -13 <(echo "$before_topics") <(kcat -b "$BS" -L | grep -o 'bench-[^"]*' | sort) | head -1)
	# Consume the max-rate topic from the beginning.
	local bytes=$((acked * 1024)) start end
	settle
	# shellcheck disable=SC2086
	c2=$(cpu_s $BROKER_PIDS)
	start=$(date +%s.%N)
	timeout 300 kcat -b "$BS" -C -t "$topic" -o beginning -e -q \
		-X fetch.max.bytes=52428800 -X queued.max.messages.kbytes=1048576 >/dev/null
	end=$(date +%s.%N)
	# shellcheck disable=SC2086
	c3=$(cpu_s $BROKER_PIDS)
	# Latency at half the maximum rate, on brokers started afresh (Eddy targets) once the
	# writeback is done: the latency of a steady half load, not of the max-rate phase's
	# aftermath (its dirty pages, and on a virtual machine the guest memory it just took).
	if [[ -n $RESTART_WITH ]]; then
		stop_eddy
		start_eddy "$RESTART_WITH"
	fi
	settle
	"$BENCH" run "$WORKLOAD" --bootstrap "$BS" --rate "$rate" --warmup-s 2 --duration-s "$DURATION_S" \
		--replication-factor "$rf" "${tc[@]}" --skip-limits --results "$RESULTS/$name-half" \
		>"$WORK/bench.log" 2>&1 || { tail -20 "$WORK/bench.log" >&2; return 1; }
	local half
	half=$(ls "$RESULTS/$name-half"/*/result.json | head -1)
	local row
	row=$($PY - "$max" "$half" "$bytes" "$start" "$end" "$c0" "$c1" "$c2" "$c3" "$name" <<'EOF'
import json, sys
mx, hf = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
b, s, e = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
c0, c1, c2, c3 = map(float, sys.argv[6:10])
name = sys.argv[10]
produced_gb = mx['totals']['acked'] * 1024 / 1e9
pub = mx['publish']
lat = hf['publish_latency']
e2e = hf['end_to_end_latency']
cpu_p = f"{(c1 - c0) / produced_gb:.2f}" if c1 > c0 else "n/a"
cpu_c = f"{(c3 - c2) / (b / 1e9):.2f}" if c3 > c2 else "n/a"
print(f"| {name} | {pub['mb_per_s']:.1f} | {b / (e - s) / 1e6:.0f} | {hf['publish']['msgs_per_s']:.0f} | "
      f"{lat['p99_ms']:.1f} / {lat['p999_ms']:.1f} | {e2e['p99_ms']:.1f} / {e2e['p999_ms']:.1f} | {cpu_p} | {cpu_c} |")
EOF
)
	ROWS+=("$row")
	echo "$row"
}

HEADER="| target | produce MB/s (max) | consume MB/s | half-max rate msg/s | publish p99 / p99.9 ms | end-to-end p99 / p99.9 ms | broker CPU-s per GB produced | per GB consumed |
|---|---|---|---|---|---|---|---|"
if [[ -n ${BOOTSTRAP:-} ]]; then
	BS=$BOOTSTRAP
	BROKER_PIDS=${BROKER_PIDS:-}
	# shellcheck disable=SC2086
	measure "${NAME:-broker}-rf${RF:-1}" "${RF:-1}" ${TOPIC_CONFIG:-}
else
	[[ -x $BROKER ]] || { echo "build first: cargo build --release -p eddy-broker --bin broker" >&2; exit 1; }
	for target in ${TARGETS:-rf1 rf3}; do
		n=${target#rf}
		for mode in ${MODES:-fsync replicated}; do
			start_eddy "$n"
			RESTART_WITH=$n
			extra=(ack.durability="$mode")
			((n > 1)) && extra+=(min.insync.replicas=2)
			measure "eddy-$target-$mode" "$n" "${extra[@]}"
			stop_eddy
		done
	done
fi
echo
echo "$HEADER"
printf '%s\n' "${ROWS[@]}"
if [[ -n ${PLOT:-} ]]; then
	printf '%s\n' "$HEADER" "${ROWS[@]}" >"$WORK/table.md"
	$PY "$ROOT/bench/side_by_side_plot.py" "$WORK/table.md" "$PLOT" \
		"bench/side-by-side.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
	echo "plot: $PLOT"
fi
