#!/usr/bin/env bash
# `./dev test`: installs everything the tests need (idempotently), then runs the lints and every
# test suite in the workspace. `.ci/run` calls exactly this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
cd "$root"
ensure_cargo_tools
say "installing test dependencies"
"$root/scripts/install-test-deps.sh"
export PATH="$EDDY_CACHE/venv/bin:$PATH"
say "cargo fmt --check"
cargo fmt --all --check
# One build serves clippy and the tests: clippy-driver wraps rustc for the workspace's own crates
# (exactly what `cargo clippy` does, see RUSTC_WORKSPACE_WRAPPER), so its lints run while the test
# binaries are compiled, and dependencies are compiled once, not once for check and once for test.
# `-D warnings` reaches clippy-driver the way `cargo clippy -- -D warnings` passes it.
say "cargo clippy (-D warnings) + cargo nextest run --workspace, one build"
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)" \
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
  cargo nextest run --workspace --no-fail-fast "$@"
