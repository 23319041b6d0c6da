#!/bin/bash
# Cluster benchmark: three release brokers on loopback (3 voters), acks=all idempotent produce
# throughput to RF=1 and RF=3 topics (3 partitions, 200 000 x 1 KB, confluent-kafka).
# Usage: bench/cluster/run.sh [session-timeout-ms]
# Needs: cargo build --release -p eddy-broker; kcat; the test venv (scripts/install-test-deps.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${BROKER:-${CARGO_TARGET_DIR:-$HERE/../../target}/release/broker}
P=${PYTHON:-$HOME/.cache/eddy/venv/bin/python}
SESSION=${1:-3000}
D=$(mktemp -d); cd "$D"
V="0@127.0.0.1:29095,1@127.0.0.1:29096,2@127.0.0.1:29097"
for i in 0 1 2; do
  RUST_LOG=warn "$B" --node-id $i --data-dir d$i --listeners PLAINTEXT://127.0.0.1:2909$i \
    --admin-addr 127.0.0.1:2960$i --controller-quorum-voters $V \
    --broker-session-timeout-ms "$SESSION" >> l$i.log 2>&1 & echo $! > pid$i
done
trap 'for i in 0 1 2; do kill $(cat pid$i) 2>/dev/null; done; rm -rf "$D"' EXIT
BS=127.0.0.1:29090,127.0.0.1:29091,127.0.0.1:29092
for _ in $(seq 1 300); do  # bounded: 30 s for all three to register
  [ "$(kcat -b $BS -L 2>/dev/null | grep -c '^  broker ')" = 3 ] && break; sleep 0.1
done
"$P" -c "
from confluent_kafka.admin import AdminClient, NewTopic
a=AdminClient({'bootstrap.servers':'$BS'})
fs=a.create_topics([NewTopic('rf1',3,1),NewTopic('rf3',3,3,config={'min.insync.replicas':'2'})])
[f.result() for f in fs.values()]"
sleep 2
for t in rf1 rf3 rf1 rf3; do "$P" "$HERE/throughput.py" $BS $t 200000 1000; done
