#!/usr/bin/env bash
# `./dev up`: builds and starts the local service on embedded defaults, then prints where it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
cd "$root"
say "building (cargo build --bins; the first build takes several minutes)"
cargo build --bins
bin="$CARGO_TARGET_DIR/debug"
mkdir -p "$EDDY_RUN"
say "starting the local Kubernetes (the first run builds kube-apiserver for minutes, with progress)"
NODE_AGENT="$bin/node-agent" "$root/scripts/kube-up.sh"
kubeconfig="${EDDY_KUBE_DIR:-$EDDY_CACHE/kube}/kubeconfig"
# The operator (Helm chart) and the 1-broker KafkaCluster `dev` on the local Kubernetes; prints its
# bootstrap address once Ready (bounded wait) and saves it for the summary below.
"$root/scripts/operator-up.sh"
dev_bootstrap="$(cat "$EDDY_RUN/dev-bootstrap" 2>/dev/null || echo '?')"
say "starting the standalone broker (no Kubernetes)"
start_bg broker "$bin/broker" --data-dir "$EDDY_RUN/broker-data"
wait_port 127.0.0.1 9092 60 broker
say "starting the control-plane API (SQLite, seeded demo account)"
api_args=(--listen 127.0.0.1:8080 --database-url "sqlite://$EDDY_RUN/eddy-api.db?mode=rwc" --seed-demo
  --secrets-key-file "$EDDY_RUN/eddy-api.secrets-key")
# The local Kubernetes (scripts/kube-up.sh) writes its kubeconfig here; without it, cluster
# mutations answer 503 and everything else works.
kubeconfig="${EDDY_KUBECONFIG:-$kubeconfig}"
[[ -f $kubeconfig ]] && api_args+=(--kubeconfig "$kubeconfig")
start_bg api "$bin/api" "${api_args[@]}"
wait_port 127.0.0.1 8080 60 api
# The API logs the demo credentials right after it starts listening: give it a moment.
for _ in $(seq 1 50); do grep -q '^demo account' "$EDDY_RUN/api.log" && break; sleep 0.1; done
demo="$(grep -m1 '^demo account' "$EDDY_RUN/api.log" || echo "demo account  (see $EDDY_RUN/api.log)")"
cat <<TXT

Eddy is up.
  KafkaCluster dev  $dev_bootstrap   (operator-managed broker pod on the local Kubernetes)
                    kubectl --kubeconfig $kubeconfig get kafkaclusters
  standalone broker 127.0.0.1:9092   (a plain process, no Kubernetes; same binary)
  broker admin      http://127.0.0.1:9600/metrics   (healthz, readyz, v1/broker/state)
  control-plane API http://127.0.0.1:8080/v1/openapi.json   (metrics, healthz)
  $demo
  logs and PIDs     $EDDY_RUN
  kubeconfig        $kubeconfig   (kubectl --kubeconfig $kubeconfig get nodes)
  stop it           ./dev down
TXT
