#!/bin/bash
# Transactional against idempotent produce on three release brokers (3 voters): 1,000 x 1 KB
# records a transaction to a 1-partition RF=3 topic (min.insync.replicas=2), TRANSACTIONS
# transactions a run (default 100), three runs; prints MB/s and commit p50/p99 per run.
# Usage: bench/cluster/txn.sh [transactions]
# Needs: cargo build --release -p eddy-broker; kcat; the test venv (scripts/install-test-deps.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${BROKER:-${CARGO_TARGET_DIR:-$HERE/../../target}/release/broker}
P=${PYTHON:-$HOME/.cache/eddy/venv/bin/python}
TXNS=${1:-100}
D=$(mktemp -d); cd "$D"
V="0@127.0.0.1:29195,1@127.0.0.1:29196,2@127.0.0.1:29197"
for i in 0 1 2; do
  RUST_LOG=warn "$B" --node-id $i --data-dir d$i --listeners PLAINTEXT://127.0.0.1:2919$i \
    --admin-addr 127.0.0.1:2970$i --controller-quorum-voters $V >> l$i.log 2>&1 & echo $! > pid$i
done
trap 'for i in 0 1 2; do kill $(cat pid$i) 2>/dev/null; done; wait; rm -rf "$D"' EXIT
BS=127.0.0.1:29190,127.0.0.1:29191,127.0.0.1:29192
for _ in $(seq 1 300); do  # bounded: 30 s for all three to register
  [ "$(kcat -b $BS -L 2>/dev/null | grep -c '^  broker ')" = 3 ] && break; sleep 0.1
done
for run in 1 2 3; do
  "$P" "$HERE/../../broker/tests/clients/txn_bench.py" $BS "run$run" "$TXNS" 3
done
