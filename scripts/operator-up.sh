#!/usr/bin/env bash
# After the local Kubernetes is up (scripts/kube-up.sh): installs the Eddy chart with the real Helm
# SDK, applies the 1-broker example and prints its bootstrap address once it is Ready.
# Meant to be called by `./dev up` right after kube-up. Idempotent: an existing release is kept.
#   EDDY_KUBE_DIR  local Kubernetes state (default $EDDY_CACHE/kube): its kubeconfig is used
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
dir="${EDDY_KUBE_DIR:-$EDDY_CACHE/kube}"
kc="$dir/kubeconfig"
py="$EDDY_CACHE/venv/bin/python"
[[ -x $py ]] || py=python3
k() { kubectl --kubeconfig "$kc" "$@"; }
if ! k -n eddy-system get deployment eddy-operator >/dev/null 2>&1; then
  say "installing the Eddy operator with Helm (charts/eddy)"
  "$py" "$root/operator/tests/helm/chart.py" install "$root/charts/eddy" "$kc" eddy-system eddy '{"operator":{"logFormat":"text"}}'
fi
for _ in $(seq 1 120); do k get crd kafkaclusters.eddy.io >/dev/null 2>&1 && break; sleep 0.5; done
say "applying deploy/examples/cluster-dev.yaml"
k apply -n default -f "$root/deploy/examples/cluster-dev.yaml" >/dev/null
bootstrap=""
for _ in $(seq 1 240); do
  ready="$(k -n default get kafkacluster dev -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
  if [[ $ready == True ]]; then
    bootstrap="$(k -n default get kafkacluster dev -o jsonpath='{.status.listeners[0].bootstrapServers}')"
    break
  fi
  sleep 0.5
done
if [[ -z $bootstrap ]]; then
  echo "KafkaCluster dev did not become Ready within 120s:" >&2
  k -n default get kafkacluster dev -o yaml >&2 || true
  exit 1
fi
cat <<TXT

KafkaCluster dev (operator-managed, local Kubernetes) is Ready.
  Kafka bootstrap   $bootstrap
  kubectl           kubectl --kubeconfig $kc get kafkaclusters
TXT
