#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package
# (bookworm: 1.20.2, full vendor tree) once, and caches them under $EDDY_CACHE/kubernetes/bin.
# Idempotent: exits at once when the binaries are already there.
set -euo pipefail
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
out="$EDDY_CACHE/kubernetes/bin"
if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" ]]; then
  echo "kubernetes: cached binaries in $out"
  exit 0
fi
here="$(cd "$(dirname "$0")" && pwd)"
"$here/apt-install.sh" dpkg-dev golang-1.19-go rsync etcd-server
if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "kubernetes: adding a deb-src entry for bookworm"
  cat > /etc/apt/sources.list.d/eddy-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
src="$EDDY_CACHE/kubernetes/src"
mkdir -p "$src" "$out"
cd "$src"
if ! ls -d kubernetes-*/ >/dev/null 2>&1; then
  echo "kubernetes: fetching the Debian source package"
  apt-get source -qq --download-only kubernetes
  dpkg-source --no-check -x kubernetes_*.dsc >/dev/null
fi
dir="$(ls -d kubernetes-*/ | head -n1)"
cd "$dir"
export PATH="/usr/lib/go-1.19/bin:$PATH" GOFLAGS=-mod=vendor GO111MODULE=on
echo "kubernetes: building kube-apiserver and kube-controller-manager (about 12 minutes on 2 cores; progress below)"
start=$(date +%s)
# `make` prints one line per package group; keep it visible so the first run is never a silent wait.
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" 2>&1 | sed -u 's/^/kubernetes: /'
for b in kube-apiserver kube-controller-manager; do
  install -m 0755 "$(find _output -type f -name "$b" | head -n1)" "$out/$b"
done
echo "kubernetes: built in $(( $(date +%s) - start ))s into $out"
