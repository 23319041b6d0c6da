#!/usr/bin/env bash
# After the local Kubernetes is up (scripts/kube-up.sh): installs the Eddy chart with the real Helm
# SDK, applies the 1-broker example and prints its bootstrap address once it is Ready.
# Called by `./dev up` right after kube-up. Idempotent: an installed release is kept (its operator
# pod is restarted by the node agent), the example is re-applied (a no-op when unchanged).
#   EDDY_KUBE_DIR       local Kubernetes state (default $EDDY_CACHE/kube): its kubeconfig is used
#   EDDY_READY_TIMEOUT  seconds to wait for Ready (default 180)
# Writes the bootstrap address to $EDDY_RUN/dev-bootstrap.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
EDDY_RUN="${EDDY_RUN:-$EDDY_CACHE/run}"
dir="${EDDY_KUBE_DIR:-$EDDY_CACHE/kube}"
kc="$dir/kubeconfig"
timeout="${EDDY_READY_TIMEOUT:-180}"
py="$EDDY_CACHE/venv/bin/python"
if [[ ! -x $py ]] || ! "$py" -c 'import helm_python' 2>/dev/null; then
  say "installing the Helm SDK (helm-python-sdk) into $EDDY_CACHE/venv"
  [[ -x $py ]] || python3 -m venv "$EDDY_CACHE/venv"
  "$EDDY_CACHE/venv/bin/pip" install -q -r "$root/scripts/requirements-test.txt"
fi
k() { kubectl --kubeconfig "$kc" "$@"; }
mkdir -p "$EDDY_RUN"
rm -f "$EDDY_RUN/dev-bootstrap"
if k -n eddy-system get deployment eddy-operator >/dev/null 2>&1; then
  say "the Eddy operator is installed already (Helm release eddy in eddy-system)"
else
  say "installing the Eddy operator with Helm (charts/eddy, release eddy in eddy-system)"
  "$py" "$root/operator/tests/helm/chart.py" install "$root/charts/eddy" "$kc" eddy-system eddy \
    '{"operator":{"logFormat":"text","leaseSeconds":5}}' >/dev/null
fi
deadline=$(($(date +%s) + timeout))
until k get crd kafkaclusters.eddy.io >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || { echo "CRD kafkaclusters.eddy.io not established within ${timeout}s" >&2; exit 1; }
  sleep 0.5
done
say "applying deploy/examples/cluster-dev.yaml (KafkaCluster dev, 1 broker, namespace default)"
k apply -n default -f "$root/deploy/examples/cluster-dev.yaml" >/dev/null
t0=$(date +%s)
bootstrap=""
while (($(date +%s) < deadline)); do
  ready="$(k -n default get kafkacluster dev -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
  if [[ $ready == True ]]; then
    bootstrap="$(k -n default get kafkacluster dev -o jsonpath='{.status.listeners[0].bootstrapServers}')"
    # Status survives a restart of the local Kubernetes: trust it once the broker answers there.
    first="${bootstrap%%,*}"
    [[ -n $first ]] && (exec 3<>"/dev/tcp/${first%:*}/${first##*:}") 2>/dev/null && break
    bootstrap=""
  fi
  sleep 0.5
done
if [[ -z $bootstrap ]]; then
  echo "KafkaCluster dev did not become Ready within ${timeout}s. Its status, the operator's log tail:" >&2
  k -n default get kafkacluster dev -o yaml >&2 || true
  k -n eddy-system logs deployment/eddy-operator --tail 30 >&2 || true
  exit 1
fi
echo "$bootstrap" >"$EDDY_RUN/dev-bootstrap"
say "KafkaCluster dev is Ready after $(($(date +%s) - t0)) s: bootstrap $bootstrap"
