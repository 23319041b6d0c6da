#!/usr/bin/env bash
# Installs what the test suites need; every step skips work already done.
#   apt:  kcat and librdkafka (Debian's, the real C client), pkg-config, PostgreSQL, etcd,
#         iproute2 (`ip netns`/veth/bridge for the broker's network-partition test)
#   pip:  confluent-kafka, kafka-python, helm-python-sdk, in a venv under $EDDY_CACHE
#   npm:  kafkajs, for the broker's JavaScript client tests; the console's toolchain (Vite,
#         Preact, uPlot) and puppeteer-core in api/console
#   apt:  chromium (Debian's), the browser of the console test (api/tests/console.rs);
#         prometheus, the server the API reads plots from in api/tests/prometheus.rs
#   kubernetes: kube-apiserver + kube-controller-manager, built once and cached (etcd, openssl,
#               curl, util-linux's unshare/nsenter/mount for the local node agent)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
"$root/scripts/apt-install.sh" kcat librdkafka-dev pkg-config build-essential postgresql iproute2 chromium prometheus
venv="$EDDY_CACHE/venv"
reqs="$root/scripts/requirements-test.txt"
if [[ ! -x $venv/bin/pip ]]; then
  say "creating python venv in $venv"
  python3 -m venv --clear "$venv"
fi
if ! cmp -s "$reqs" "$venv/.eddy-requirements"; then
  say "pip install -r scripts/requirements-test.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/.eddy-requirements"
fi
# Local Kubernetes: the node agent runs pods through unshare/nsenter/mount (util-linux, mount).
"$root/scripts/apt-install.sh" etcd-server openssl curl util-linux mount
# `./dev test` builds Kubernetes itself, beside the cargo build (EDDY_SKIP_KUBERNETES_BUILD=1).
[[ ${EDDY_SKIP_KUBERNETES_BUILD:-} == 1 ]] || "$root/scripts/build-kubernetes.sh"
js="$root/broker/tests/clients/js"
if [[ -f $js/package.json && ! -d $js/node_modules ]]; then
  say "npm ci (broker/tests/clients/js)"
  (cd "$js" && npm ci --no-audit --no-fund --silent)
fi
# The console: `npm ci` whenever the lockfile changed since the last install.
console="$root/api/console"
if ! cmp -s "$console/package-lock.json" "$console/node_modules/.eddy-package-lock.json"; then
  say "npm ci (api/console)"
  (cd "$console" && npm ci --no-audit --no-fund --silent)
  cp "$console/package-lock.json" "$console/node_modules/.eddy-package-lock.json"
fi
