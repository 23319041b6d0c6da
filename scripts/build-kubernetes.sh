#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package
# (bookworm: 1.20.2, full vendor tree) once, and caches them under $EDDY_CACHE/kubernetes/bin.
# Idempotent: exits at once when the binaries of the current patch level are already there.
#
# One local patch (recorded in bin/PATCH-LEVEL): Endpoints may hold loopback addresses. The local
# node agent gives every pod its own 127.x.y.z address (no network namespaces here), and stock
# validation rejects those in Endpoints, which would leave every Service without endpoints.
set -euo pipefail
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
out="$EDDY_CACHE/kubernetes/bin"
patch_level="1.20.2+eddy.1 (loopback endpoints)"
if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" &&
  "$(cat "$out/PATCH-LEVEL" 2>/dev/null)" == "$patch_level" ]]; then
  echo "kubernetes: cached binaries in $out ($patch_level)"
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
echo "kubernetes: patching: allow loopback addresses in Endpoints"
sed -i 's|^\(\s*\)allErrs = append(allErrs, field.Invalid(fldPath, ipAddress, "may not be in the loopback range (127.0.0.0/8)"))|\1// eddy localkube: pods have loopback IPs, so Endpoints must accept them|' \
  pkg/apis/core/validation/validation.go
grep -q "eddy localkube: pods have loopback IPs" pkg/apis/core/validation/validation.go ||
  { echo "kubernetes: the loopback patch did not apply" >&2; exit 1; }
export PATH="/usr/lib/go-1.19/bin:$PATH" GOFLAGS=-mod=vendor GO111MODULE=on
echo "kubernetes: building kube-apiserver and kube-controller-manager (about 10 minutes on 2 cores the first time; progress below)"
start=$(date +%s)
# Never a silent wait: make's own lines pass through, compiled packages are counted every 100,
# and a heartbeat reports the elapsed time every 30 s even while the linker runs.
( while sleep 30; do echo "kubernetes: still building ($(( $(date +%s) - start ))s elapsed)"; done ) &
heartbeat=$!
trap 'kill "$heartbeat" 2>/dev/null || true' EXIT
# A leading "-v" in WHAT is passed to `go build` (not via GOFLAGS, which Kubernetes' build
# scripts parse for tags): go then prints each package it compiles (about 2,000).
make WHAT="-v cmd/kube-apiserver cmd/kube-controller-manager" 2>&1 | awk -v start="$start" '
  /^[A-Za-z0-9._~\/-]+$/ { n++; if (n % 100 == 0) { printf "kubernetes: compiled %d packages (%ds)\n", n, systime() - start; fflush() } next }
  { print "kubernetes: " $0; fflush() }'
kill "$heartbeat" 2>/dev/null || true
for b in kube-apiserver kube-controller-manager; do
  install -m 0755 "$(find _output -type f -name "$b" | head -n1)" "$out/$b"
done
echo "$patch_level" >"$out/PATCH-LEVEL"
echo "kubernetes: built in $(( $(date +%s) - start ))s into $out"
