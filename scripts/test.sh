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
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
say "cargo nextest run --workspace"
cargo nextest run --workspace --no-fail-fast "$@"
