"""Consumers of one group (confluent-kafka) join and leave while messages flow; every message
must be consumed-and-committed exactly once across members.
Args: bootstrap topic assignor [protocol]: `classic` (default; the client-side assignor
`partition.assignment.strategy`) or `consumer` (KIP-848; the broker's `group.remote.assignor`)."""
import json
import sys
import threading

from groups_common import FAST, CommittingMember, check_committed_at_end, produce, wait_until

bootstrap, topic, assignor = sys.argv[1], sys.argv[2], sys.argv[3]
protocol = sys.argv[4] if len(sys.argv) > 4 else "classic"
group = f"rebalance-{protocol}-{assignor}"
if protocol == "consumer":
    config = {"group.protocol": "consumer", "group.remote.assignor": assignor}
else:
    config = {"partition.assignment.strategy": assignor, **FAST}
lock = threading.Lock()
committed = {}  # value -> consumer name
duplicates = []


def on_commit(name, msg):
    with lock:
        v = int(msg.value())
        if v in committed:
            duplicates.append((v, committed[v], name))
        committed[v] = name


def member(name):
    m = CommittingMember(name, bootstrap, group, topic, config, on_commit)
    m.start()
    return m


produce(bootstrap, topic, 0, 300)
members = {"c1": member("c1")}
wait_until("c1 consuming", lambda: len(committed) >= 30)
for n in ("c2", "c3"):
    members[n] = member(n)
wait_until("three members assigned", lambda: all(m.assigned for m in members.values()))
produce(bootstrap, topic, 300, 300)
wait_until("half of the second batch", lambda: len(committed) >= 450)
members["c2"].stop.set()
members["c2"].join(30)
failures = lambda: [f for m in members.values() for f in m.failures]  # noqa: E731
try:
    wait_until("every message committed", lambda: len(committed) >= 600, timeout=90)
except AssertionError:
    missing = sorted(set(range(600)) - set(committed))
    raise AssertionError(f"{len(missing)} messages never committed, e.g. {missing[:20]}; "
                         f"commits that raced a rebalance: {failures()[:20]}")
for m in members.values():
    m.stop.set()
for m in members.values():
    m.join(30)
    assert m.error is None, f"{m.name_}: {m.error}"
assert not duplicates, f"consumed twice: {duplicates[:10]}"
assert sorted(committed) == list(range(600)), "missing messages"
counts = {n: sum(1 for c in committed.values() if c == n) for n in members}
assert check_committed_at_end(bootstrap, group, topic) == 600
print(json.dumps({"counts": counts, "assignor": assignor, "protocol": protocol,
                  "commit_failures": failures()[:20]}))
