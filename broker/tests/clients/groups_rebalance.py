"""Consumers of one group (confluent-kafka) join and leave while messages flow; every message
must be consumed-and-committed exactly once across members.
Args: bootstrap topic assignor [protocol]: `classic` (default; the client-side assignor
`partition.assignment.strategy`) or `consumer` (KIP-848; the broker's `group.remote.assignor`)."""
import json
import sys

from groups_common import FAST, CommitLog, CommittingMember, check_committed_at_end, produce, wait_until

bootstrap, topic, assignor = sys.argv[1], sys.argv[2], sys.argv[3]
protocol = sys.argv[4] if len(sys.argv) > 4 else "classic"
group = f"rebalance-{protocol}-{assignor}"
if protocol == "consumer":
    config = {"group.protocol": "consumer", "group.remote.assignor": assignor}
else:
    config = {"partition.assignment.strategy": assignor, **FAST}
log = CommitLog()


def member(name):
    m = CommittingMember(name, bootstrap, group, topic, config, log.on_commit)
    m.start()
    return m


produce(bootstrap, topic, 0, 300)
members = {"c1": member("c1")}
wait_until("c1 consuming", lambda: log.count() >= 30)
for n in ("c2", "c3"):
    members[n] = member(n)
wait_until("three members assigned", lambda: all(m.assigned for m in members.values()))
produce(bootstrap, topic, 300, 300)
wait_until("half of the second batch", lambda: log.count() >= 450)
members["c2"].stop.set()
members["c2"].join(30)
log.wait_all(600, members.values(), timeout=90)
for m in members.values():
    m.stop.set()
for m in members.values():
    m.join(30)
    assert m.error is None, f"{m.name_}: {m.error}"
log.check_exactly_once(600)
counts = {n: log.by(n) for n in members}
assert check_committed_at_end(bootstrap, group, topic) == 600
print(json.dumps({"counts": counts, "assignor": assignor, "protocol": protocol,
                  "commit_failures": [f for m in members.values() for f in m.failures][:20]}))
