#!/usr/bin/env bash
# `./dev down`: stops, by PID, everything `./dev up` started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
for name in api broker; do stop_pid "$name"; done
rm -f "$EDDY_RUN/dev-bootstrap"
"$root/scripts/kube-down.sh"
