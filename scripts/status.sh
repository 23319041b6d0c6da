#!/usr/bin/env bash
# `./dev status`: which of the local services are running.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
shopt -s nullglob
for f in "$EDDY_RUN"/*.pid; do
  n="$(basename "$f" .pid)"; p="$(cat "$f")"
  if kill -0 "$p" 2>/dev/null; then echo "$n running (pid $p)"; else echo "$n stopped"; fi
done
