#!/usr/bin/env bash
# `./dev test`: installs everything the tests need (idempotently), then runs the lints and every
# test suite in the workspace. `.ci/run` calls exactly this.
#
# On a fresh machine the two long builds (the local Kubernetes from Debian's Go sources, and the
# workspace's test binaries) run side by side: each leaves CPU idle in its serial phases (linking,
# the last crates of a dependency chain) that the other fills. Each phase prints its duration.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
cd "$root"
t0=$(date +%s)
phase_start=$t0
phase() { # phase NAME: report the previous phase's duration, start timing NAME
  local now; now=$(date +%s)
  [[ -n ${phase_name:-} ]] && printf '    (%s took %ds)\n' "$phase_name" "$((now - phase_start))"
  phase_name="$1"; phase_start=$now
  say "$1"
}
ensure_cargo_tools
phase "installing test dependencies (apt, pip, npm)"
EDDY_SKIP_KUBERNETES_BUILD=1 "$root/scripts/install-test-deps.sh"
export PATH="$EDDY_CACHE/venv/bin:$PATH"
phase "cargo fmt --check"
cargo fmt --all --check
# The api binary embeds api/console/dist: it must be what the console's sources build to.
phase "console build matches the committed api/console/dist"
(cd api/console && npm run --silent build >/dev/null)
git diff --exit-code --stat -- api/console/dist || {
  echo "api/console/dist is stale: run (cd api/console && npm run build) and commit it" >&2
  exit 1
}

# One build serves clippy and the tests: clippy-driver wraps rustc for the workspace's own crates
# (exactly what `cargo clippy` does, see RUSTC_WORKSPACE_WRAPPER), so its lints run while the test
# binaries are compiled, and dependencies are compiled once, not once for check and once for test.
# `-D warnings` reaches clippy-driver the way `cargo clippy -- -D warnings` passes it.
export RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

phase "building the local Kubernetes (background) and the workspace's test binaries with clippy"
mkdir -p "$EDDY_CACHE"
kube_log="$EDDY_CACHE/build-kubernetes.log"
"$root/scripts/build-kubernetes.sh" >"$kube_log" 2>&1 &
kube_pid=$!
trap 'kill "$kube_pid" 2>/dev/null || true' EXIT
build_ok=0
cargo test --workspace --no-run || build_ok=$?
cargo_done=$(date +%s)
printf '    (cargo build took %ds)\n' "$((cargo_done - phase_start))"
if ! wait "$kube_pid"; then
  echo "the Kubernetes build failed; its log ($kube_log) ends:" >&2
  tail -n 40 "$kube_log" >&2
  exit 1
fi
trap - EXIT
tail -n 1 "$kube_log"
[[ $build_ok == 0 ]] || { echo "cargo build (with clippy -D warnings) failed" >&2; exit "$build_ok"; }

phase "cargo nextest run --workspace"
rc=0
cargo nextest run --workspace --no-fail-fast "$@" || rc=$?
phase "done"
printf '    (./dev test took %ds in all)\n' "$(( $(date +%s) - t0 ))"
exit "$rc"
