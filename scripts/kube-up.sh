#!/usr/bin/env bash
# Starts the local Kubernetes: etcd, kube-apiserver, kube-controller-manager and Eddy's node agent,
# all on loopback, then waits (with a deadline) until every Node is Ready and prints the kubeconfig.
# Idempotent: components already running (by PID file) are left alone.
#
# Environment (all optional):
#   EDDY_CACHE       cache root (default ~/.cache/eddy)
#   EDDY_KUBE_DIR    state, certificates, logs and PIDs (default $EDDY_CACHE/kube)
#   EDDY_KUBE_SLOT   0..99: picks the ports (17000 + 20*slot ...) and the pod IP range 127.(20+slot).x.y
#                    so several environments can run side by side (tests use slots 1..)
#   EDDY_KUBE_NODES  how many Nodes the agent registers (default 1)
#   EDDY_IMAGE_MAP   image map YAML for the agent (default: localkube's built-in eddy/* mapping)
#   NODE_AGENT       node-agent binary (default: built with cargo into $CARGO_TARGET_DIR/debug)
#   EDDY_KUBE_BACKOFF_MS  base of the crash-restart backoff (default 10000, like the kubelet)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$EDDY_CACHE/target}"
dir="${EDDY_KUBE_DIR:-$EDDY_CACHE/kube}"
slot="${EDDY_KUBE_SLOT:-0}"
nodes="${EDDY_KUBE_NODES:-1}"
kbin="$EDDY_CACHE/kubernetes/bin"
say() { printf '\033[1m==> %s\033[0m\n' "kube: $*"; }
t0=$(date +%s%N)

base=$((17000 + 20 * slot))
etcd_port=$base
etcd_peer=$((base + 1))
api_port=$((base + 2))
kcm_port=$((base + 3))
kubelet_port=$((base + 4)) # node i serves logs on kubelet_port + i
pod_net="127.$((20 + slot))"
# Node ports are opened on 127.0.0.1 by the node agent (no kube-proxy): each slot gets its own 25
# so side-by-side environments never allocate the same one (slot 99 ends at 32499, below Linux's
# ephemeral ports).
node_ports="$((30000 + 25 * slot))-$((30000 + 25 * slot + 24))"
mkdir -p "$dir"/{pki,logs,run,etcd,agent}
echo "$api_port" >"$dir/run/api-port"

# Debian packages the environment uses (a no-op when installed): etcd, certificates, health checks,
# and util-linux's unshare/nsenter + mount for the node agent's per-container mount namespaces.
"$root/scripts/apt-install.sh" etcd-server openssl curl util-linux mount
# Builds once (minutes, with progress), or returns at once with the cached binaries.
EDDY_CACHE="$EDDY_CACHE" "$root/scripts/build-kubernetes.sh"
if [[ -z ${NODE_AGENT:-} ]]; then
  say "building the node agent (cargo build -p eddy-localkube)"
  (cd "$root" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build -p eddy-localkube --bin node-agent)
  NODE_AGENT="$CARGO_TARGET_DIR/debug/node-agent"
fi

# --- certificates (once per state dir) ---------------------------------------------------------
pki="$dir/pki"
cert() { # cert NAME SUBJECT [SANs]: a key and a certificate signed by the local CA
  local name="$1" subj="$2" san="${3:-}"
  [[ -f $pki/$name.crt ]] && return 0
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}
if [[ ! -f $pki/ca.crt ]]; then
  say "creating a CA and certificates in $pki"
  openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=eddy-localkube-ca" -days 3650 -sha256 \
    -out "$pki/ca.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
cert apiserver "/CN=kube-apiserver" \
  "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=admin"
cert controller-manager "/CN=system:kube-controller-manager"
# The agent is scheduler, kubelet and volume provisioner at once; it acts as a cluster admin.
cert node-agent "/O=system:masters/CN=eddy:node-agent"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert kubelet "/CN=eddy-localkube-kubelet" "IP:127.0.0.1,DNS:localhost"

kubeconfig() { # kubeconfig FILE USER
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: localkube
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $pki/$2.crt
    client-key: $pki/$2.key
contexts:
- name: localkube
  context: {cluster: localkube, user: $2, namespace: default}
current-context: localkube
YAML
}
kubeconfig "$dir/kubeconfig" admin
kubeconfig "$dir/controller-manager.kubeconfig" controller-manager
kubeconfig "$dir/node-agent.kubeconfig" node-agent

# --- processes -----------------------------------------------------------------------------------
running() { [[ -f $dir/run/$1.pid ]] && kill -0 "$(cat "$dir/run/$1.pid")" 2>/dev/null; }
start() { # start NAME CMD...: background, own session, log and PID under $dir
  local name="$1"; shift
  if running "$name"; then
    echo "kube: $name already running (pid $(cat "$dir/run/$name.pid"))"
    return 0
  fi
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
}
fail() {
  echo "kube: $1; last lines of $dir/logs/$2.log:" >&2
  tail -n 30 "$dir/logs/$2.log" >&2 || true
  exit 1
}
wait_for() { # wait_for NAME SECONDS CHECK...: poll CHECK until it succeeds, the process dies, or time runs out
  local name="$1" secs="$2"; shift 2
  local deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    running "$name" || fail "$name exited" "$name"
    (($(date +%s) < deadline)) || fail "$name not ready within ${secs}s" "$name"
    sleep 0.2
  done
}

say "starting etcd on 127.0.0.1:$etcd_port"
start etcd etcd --name localkube --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "localkube=http://127.0.0.1:$etcd_peer" --log-level warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"

say "starting kube-apiserver on https://127.0.0.1:$api_port"
start kube-apiserver "$kbin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --insecure-port 0 \
  --cert-dir "$pki" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --authorization-mode RBAC \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range 10.0.0.0/24 --service-node-port-range "$node_ports" --allow-privileged \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP --endpoint-reconciler-type none \
  --profiling=false --v 1
api() { curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$api_port$1"; }
wait_for kube-apiserver 120 api /readyz

say "starting kube-controller-manager"
start kube-controller-manager "$kbin/kube-controller-manager" \
  --kubeconfig "$dir/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$kcm_port" --port 0 --cert-dir "$dir/pki/kcm" \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --use-service-account-credentials --leader-elect=false \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --controllers '*,-cloud-node-lifecycle,-service,-route' --profiling=false --v 1

say "starting the node agent ($nodes node(s), pod IPs $pod_net.x.y)"
agent_args=(--kubeconfig "$dir/node-agent.kubeconfig" --state-dir "$dir/agent" --nodes "$nodes"
  --pod-ip-prefix "$pod_net" --api-host 127.0.0.1 --api-port "$api_port" --kubelet-port "$kubelet_port"
  --tls-cert "$pki/kubelet.crt" --tls-key "$pki/kubelet.key"
  --backoff-base-ms "${EDDY_KUBE_BACKOFF_MS:-10000}")
[[ -n ${EDDY_IMAGE_MAP:-} ]] && agent_args+=(--image-map "$EDDY_IMAGE_MAP")
start node-agent env CARGO_TARGET_DIR="$CARGO_TARGET_DIR" RUST_LOG="${RUST_LOG:-info}" \
  "$NODE_AGENT" run "${agent_args[@]}"

nodes_ready() {
  local n
  n=$(kubectl --kubeconfig "$dir/kubeconfig" get nodes \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)
  ((n >= nodes))
}
wait_for node-agent 60 nodes_ready
# Pods are refused until their namespace's default ServiceAccount has a token: wait for that too.
sa_ready() {
  [[ -n $(kubectl --kubeconfig "$dir/kubeconfig" -n default get serviceaccount default \
    -o jsonpath='{.secrets[0].name}') ]]
}
wait_for kube-controller-manager 60 sa_ready
running kube-controller-manager || fail "kube-controller-manager exited" kube-controller-manager
ms=$((($(date +%s%N) - t0) / 1000000))
say "ready in ${ms} ms: $nodes node(s) Ready"
echo "kubeconfig: $dir/kubeconfig"
echo "  kubectl --kubeconfig $dir/kubeconfig get pods -A"
echo "  logs and PIDs in $dir/logs and $dir/run; stop with ./dev kube-down"
