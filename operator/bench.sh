#!/usr/bin/env bash
# Operator benchmark on the local Kubernetes (prints numbers; not a test):
#   1. time from `kubectl apply` to Ready=True for a 1-broker and a 3-broker KafkaCluster;
#   2. the operator process's CPU (over an idle window) and memory (RSS) with N idle clusters
#      (default 20 KafkaClusters of 1 broker each, i.e. N real broker processes), next to the same
#      numbers with no cluster.
# Starts its own local Kubernetes (slot EDDY_KUBE_SLOT, default 45) in a temporary directory and
# stops it (by PID) at the end. Needs the binaries built: cargo build --bins.
#   BENCH_CLUSTERS  idle clusters (default 20)   BENCH_IDLE_SECONDS  CPU window (default 60)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$EDDY_CACHE/target}"
n_clusters="${BENCH_CLUSTERS:-20}"
idle="${BENCH_IDLE_SECONDS:-60}"
dir="$(mktemp -d /tmp/eddy-operator-bench.XXXXXX)"
export EDDY_KUBE_DIR="$dir" EDDY_KUBE_SLOT="${EDDY_KUBE_SLOT:-45}" EDDY_KUBE_BACKOFF_MS=1000
export NODE_AGENT="$CARGO_TARGET_DIR/debug/node-agent" CARGO_TARGET_DIR
py="$EDDY_CACHE/venv/bin/python"
kc="$dir/kubeconfig"
k() { kubectl --kubeconfig "$kc" "$@"; }
cleanup() { "$root/scripts/kube-down.sh" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }

"$root/scripts/kube-up.sh" >"$dir/kube-up.log" 2>&1 || { tail -20 "$dir/kube-up.log"; exit 1; }
"$py" "$root/operator/tests/helm/chart.py" install "$root/charts/eddy" "$kc" eddy-system eddy \
  '{"operator":{"logFormat":"text","leaseSeconds":5}}' >/dev/null
k create namespace bench >/dev/null
deadline=$(($(date +%s) + 120))
until k get kafkaclusters -n bench >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || { echo "CRDs not established" >&2; exit 1; }
  sleep 0.5
done

cluster() { # cluster NAME BROKERS: a KafkaCluster manifest
  printf 'apiVersion: eddy.io/v1alpha1\nkind: KafkaCluster\nmetadata: {name: %s, namespace: bench}\nspec: {brokers: %s, storage: {size: 1Gi, deleteClaim: true}}\n' "$1" "$2"
}
ready_count() { # how many KafkaClusters in bench are Ready
  k get kafkaclusters -n bench -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true
}
wait_ready() { # wait_ready COUNT SECONDS
  local deadline=$(($(date +%s) + $2))
  until (($(ready_count) >= $1)); do
    (($(date +%s) < deadline)) || { echo "only $(ready_count)/$1 clusters Ready after $2 s" >&2; exit 1; }
    sleep 0.2
  done
}
operator_pid() {
  local f
  f="$(ls "$dir"/agent/pods/eddy-system_eddy-operator-*/operator.pid 2>/dev/null | head -1)"
  cat "$f"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
measure_idle() { # measure_idle LABEL: operator CPU % over the idle window and RSS
  local pid t0 t1 hz
  pid="$(operator_pid)"; hz="$(getconf CLK_TCK)"
  t0="$(cpu_ticks "$pid")"; sleep "$idle"; t1="$(cpu_ticks "$pid")"
  printf '%-34s operator CPU %5.2f%% of one core (over %s s), RSS %s MiB\n' "$1" \
    "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$idle" 'BEGIN { print (b - a) * 100 / hz / s }')" \
    "$idle" "$(rss_mib "$pid")"
}

echo "== operator benchmark ($(nproc) cores, local Kubernetes 1.20.2, pods are processes)"
measure_idle "no KafkaCluster:"
for b in 1 3; do
  t0=$(ms)
  cluster "apply-$b" "$b" | k apply -f - >/dev/null
  before=$(($(ready_count)))
  wait_ready $((before + 1)) 300
  echo "kubectl apply -> Ready, $b broker(s): $(($(ms) - t0)) ms"
  k delete kafkacluster -n bench "apply-$b" --wait=true >/dev/null
done
t0=$(ms)
for i in $(seq 1 "$n_clusters"); do cluster "idle-$i" 1; echo ---; done | k apply -f - >/dev/null
wait_ready "$n_clusters" 600
echo "$n_clusters clusters of 1 broker: all Ready $(($(ms) - t0)) ms after one kubectl apply"
sleep 10 # let the Ready transitions' reconciles settle
measure_idle "$n_clusters idle KafkaClusters:"
echo "broker processes running: $(ls "$dir"/agent/pods/bench_idle-*/broker.pid 2>/dev/null | wc -l)"
