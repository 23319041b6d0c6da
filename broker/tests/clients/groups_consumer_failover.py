"""KIP-848 group across a coordinator kill (cluster mode, confluent-kafka): two members with
group.protocol=consumer consume and commit; at half way the script prints `half` and waits for
a line on stdin (the test kills the group coordinator meanwhile); the members carry on with the
new coordinator until every record is committed. A record counts once its synchronous commit is
acknowledged, so a commit that raced the kill may count twice (at least once), never zero.
Args: bootstrap topic total."""
import json
import sys
import threading

from confluent_kafka import Producer

from groups_common import CommittingMember, check_committed_at_end, wait_until

bootstrap, topic, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
group = "kip848-failover"
lock = threading.Lock()
committed = {}
duplicates = []

p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
for i in range(total):
    p.produce(topic, key=f"k{i}".encode(), value=str(i).encode())
assert p.flush(60) == 0, "records not delivered"


def on_commit(name, msg):
    with lock:
        v = int(msg.value())
        if v in committed:
            duplicates.append(v)
        committed[v] = name


members = [CommittingMember(n, bootstrap, group, topic, {"group.protocol": "consumer"}, on_commit)
           for n in ("m1", "m2")]
for m in members:
    m.start()
wait_until("half committed", lambda: len(committed) >= total // 2, timeout=90)
print("half", flush=True)
sys.stdin.readline()  # the coordinator is dead now
try:
    wait_until("every record committed", lambda: len(committed) >= total, timeout=120)
except AssertionError:
    missing = sorted(set(range(total)) - set(committed))
    raise AssertionError(f"{len(missing)} never committed, e.g. {missing[:20]}; "
                         f"commit failures: {[f for m in members for f in m.failures][:10]}")
for m in members:
    m.stop.set()
for m in members:
    m.join(30)
    assert m.error is None, f"{m.name_}: {m.error}"
assert sorted(committed) == list(range(total))
assert check_committed_at_end(bootstrap, group, topic) == total
print(json.dumps({"duplicates": len(duplicates),
                  "commit_failures": [f for m in members for f in m.failures][:5]}), flush=True)
