#!/usr/bin/env bash
# Day-2 benchmark on the local Kubernetes (prints numbers; not a test), issue 16:
#   a 3-broker KafkaCluster on 0.1.0 with BENCH_DATA_MB (default 1024) of data in an RF=2 topic;
#   then 3 -> 5 brokers (the operator's scale-up balance), 5 -> 3 (the drain before the shrink),
#   and the two-phase upgrade 0.1.0 -> 0.2.0 of the 3 brokers. For each phase: its time, the
#   bytes the brokers received (growth of each broker's data volume, summed over the brokers that
#   grew), and the publish latency (p50 / p99 / p99.9 / max) of an open-loop idempotent acks=all
#   producer of 1 KiB records (BENCH_PROBE_RATE/s, default 100) next to the same over an idle
#   window (BENCH_IDLE_S, default 60) before the first phase.
# Moves are throttled at BENCH_THROTTLE bytes/s per broker (default 52428800, 50 MiB/s).
# Starts its own local Kubernetes (slot EDDY_KUBE_SLOT, default 47) in a temporary directory and
# stops it (by PID) at the end. Needs the binaries built: cargo build --bins.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$EDDY_CACHE/target}"
data_mb="${BENCH_DATA_MB:-1024}"
throttle="${BENCH_THROTTLE:-52428800}"
rate="${BENCH_PROBE_RATE:-100}"
idle="${BENCH_IDLE_S:-60}"
phase_timeout="${BENCH_PHASE_TIMEOUT:-3600}"
dir="$(mktemp -d /tmp/eddy-day2-bench.XXXXXX)"
export EDDY_KUBE_DIR="$dir" EDDY_KUBE_SLOT="${EDDY_KUBE_SLOT:-47}" EDDY_KUBE_BACKOFF_MS=1000
export NODE_AGENT="$CARGO_TARGET_DIR/debug/node-agent" CARGO_TARGET_DIR
py="$EDDY_CACHE/venv/bin/python"
kc="$dir/kubeconfig"
k() { kubectl --kubeconfig "$kc" "$@"; }
probe_pid=""
cleanup() {
  touch "$dir/stop-probe"
  if [[ -n "$probe_pid" ]]; then
    for _ in $(seq 1 100); do kill -0 "$probe_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$probe_pid" 2>/dev/null || true
  fi
  "$root/scripts/kube-down.sh" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

"$root/scripts/kube-up.sh" >"$dir/kube-up.log" 2>&1 || { tail -20 "$dir/kube-up.log"; exit 1; }
"$py" "$root/operator/tests/helm/chart.py" install "$root/charts/eddy" "$kc" eddy-system eddy \
  '{"operator":{"logFormat":"text","leaseSeconds":5}}' >/dev/null
k create namespace bench >/dev/null
deadline=$(($(date +%s) + 120))
until k get kafkaclusters -n bench >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || { echo "CRDs not established" >&2; exit 1; }
  sleep 0.5
done

cat <<EOF | k apply -f - >/dev/null
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: {name: d2, namespace: bench}
spec:
  brokers: 3
  version: 0.1.0
  storage: {size: 20Gi, deleteClaim: true}
  config: {auto.create.topics.enable: "false"}
  rebalance: {throttleBytesPerSecond: $throttle, drainTimeoutSeconds: $phase_timeout}
EOF

# status_is PYTHON_EXPR: whether the expression holds of the KafkaCluster's status `s`.
status_is() {
  k get kafkacluster -n bench d2 -o json | "$py" -c '
import json, sys
s = json.load(sys.stdin).get("status") or {}
ready = any(c["type"] == "Ready" and c["status"] == "True" for c in s.get("conditions", []))
sys.exit(0 if ('"$1"') else 1)'
}
wait_for() { # wait_for WHAT PYTHON_EXPR
  local deadline=$(($(date +%s) + phase_timeout))
  until status_is "$2"; do
    (($(date +%s) < deadline)) || { echo "timed out waiting for $1" >&2; exit 1; }
    sleep 1
  done
}
# Bytes in each broker's data volume: "ordinal bytes" lines.
volume_bytes() {
  k get pvc -n bench -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}' |
    while read -r name uid; do
      [[ -d "$dir/agent/volumes/pvc-$uid" ]] || continue
      echo "${name##*-} $(du -sB1 "$dir/agent/volumes/pvc-$uid" | cut -f1)"
    done
}
# grown BEFORE AFTER: bytes added, summed over the brokers whose volume grew.
grown() {
  awk 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) sum += d } END { printf "%.0f", sum }' \
    <(echo "$1") <(echo "$2")
}
# mib VOLUME_BYTES: "ordinal=MiB" per broker, on one line.
mib() { echo "$1" | sort -n | awk '{ printf "%s=%.0f ", $1, $2 / 1048576 }'; }
bootstrap() { k get kafkacluster -n bench d2 -o jsonpath='{.status.listeners[0].bootstrapServers}'; }

wait_for "3 brokers Ready" 'ready and len(s.get("brokerIds", [])) == 3'
bs="$(bootstrap)"
"$py" "$root/operator/tests/e2e/kafka_tool.py" create "$bs" data 12 2 >/dev/null
"$py" "$root/operator/tests/e2e/kafka_tool.py" create "$bs" probe 6 2 >/dev/null
echo "== day-2 benchmark ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), local Kubernetes, debug binaries)"
echo "throttle $throttle B/s per broker; probe: $rate records/s of 1 KiB, acks=all, idempotent"
fill="$("$py" "$root/bench/day2.py" fill "$bs" data "$data_mb")"
echo "loaded $data_mb MiB (RF=2) into topic data: $fill"

"$py" "$root/bench/day2.py" probe "$bs" probe "$rate" "$dir/probe.log" "$dir/stop-probe" >"$dir/probe.json" &
probe_pid=$!
sleep 5 # the probe's connections
report() { # report LABEL T0 T1 [EXTRA]
  printf '%-26s %s %s\n' "$1" "$("$py" "$root/bench/day2.py" window "$dir/probe.log" "$2" "$3")" "${4:-}"
}
t0="$(now)"; sleep "$idle"; t1="$(now)"
report "idle ($idle s):" "$t0" "$t1"

phase() { # phase LABEL PATCH WHAT PYTHON_EXPR
  local before after t0 t1 took
  before="$(volume_bytes)"
  t0="$(now)"
  k patch kafkacluster -n bench d2 --type merge -p "$2" >/dev/null
  sleep 2 # the operator sees the new generation before the condition is checked
  wait_for "$3" "$4"
  took="$(ms_since "$t0")"; t1="$(now)"
  after="$(volume_bytes)"
  report "$1" "$t0" "$t1" "took ${took} ms, brokers received $(grown "$before" "$after") bytes"
  echo "    MiB per broker before: $(mib "$before"); after: $(mib "$after")"
}
phase "scale 3 -> 5:" '{"spec":{"brokers":5}}' "balanced over 5 brokers" \
  'ready and (s.get("rebalance") or {}).get("brokers") == [0, 1, 2, 3, 4] and not s["rebalance"].get("moving")'
phase "scale 5 -> 3:" '{"spec":{"brokers":3}}' "scale-down Done" \
  '(s.get("scaleDown") or {}).get("phase") == "Done" and ready'
phase "upgrade 0.1.0 -> 0.2.0:" '{"spec":{"version":"0.2.0"}}' "upgrade Done at level 2" \
  '(s.get("upgrade") or {}).get("phase") == "Done" and s["upgrade"].get("finalizedLevel") == 2 and ready'

touch "$dir/stop-probe"
wait "$probe_pid" || true
probe_pid=""
echo "probe totals: $(cat "$dir/probe.json") $("$py" "$root/bench/day2.py" window "$dir/probe.log" 0 1e12)"
