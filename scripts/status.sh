#!/usr/bin/env bash
# `./dev status`: which of the local services are running, the local Kubernetes' components and,
# when its apiserver answers, the KafkaClusters and their pods.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
shopt -s nullglob
kdir="${EDDY_KUBE_DIR:-$EDDY_CACHE/kube}"
for f in "$EDDY_RUN"/*.pid "$kdir"/run/*.pid; do
  n="$(basename "$f" .pid)"; p="$(cat "$f")"
  if kill -0 "$p" 2>/dev/null; then echo "$n running (pid $p)"; else echo "$n stopped"; fi
done
kc="$kdir/kubeconfig"
if [[ -f $kdir/run/kube-apiserver.pid ]] && kill -0 "$(cat "$kdir/run/kube-apiserver.pid")" 2>/dev/null; then
  echo
  kubectl --kubeconfig "$kc" --request-timeout 5s get kafkaclusters -A 2>&1 || true
  echo
  kubectl --kubeconfig "$kc" --request-timeout 5s get pods -A -o wide 2>&1 || true
fi
