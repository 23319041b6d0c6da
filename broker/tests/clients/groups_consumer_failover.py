"""KIP-848 group across a coordinator kill (cluster mode, confluent-kafka): two members with
group.protocol=consumer consume and commit; at half way the script prints `half` and waits for
a line on stdin (the test kills the group coordinator meanwhile); the members carry on with the
new coordinator until every record is consumed and the committed offsets reach the end of the
log. That is Kafka's at-least-once promise: a commit that failed across the kill (the member's
epoch moved) is covered by a later commit of the same partition, and a record may be consumed
twice, never zero times. Args: bootstrap topic total."""
import json
import sys
import threading
import time

from confluent_kafka import Producer

from groups_common import CommittingMember, check_committed_at_end, wait_until

bootstrap, topic, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
group = "kip848-failover"
lock = threading.Lock()
committed = {}
consumed = set()
duplicates = []

p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
for i in range(total):
    p.produce(topic, key=f"k{i}".encode(), value=str(i).encode())
assert p.flush(60) == 0, "records not delivered"


def on_consume(_name, msg):
    with lock:
        consumed.add(int(msg.value()))


def on_commit(name, msg):
    with lock:
        v = int(msg.value())
        if v in committed:
            duplicates.append(v)
        committed[v] = name


members = [CommittingMember(n, bootstrap, group, topic, {"group.protocol": "consumer"}, on_commit,
                            on_consume) for n in ("m1", "m2")]
for m in members:
    m.start()
wait_until("half committed", lambda: len(committed) >= total // 2, timeout=90)
print("half", flush=True)
sys.stdin.readline()  # the coordinator is dead now


def at_end():
    try:
        return check_committed_at_end(bootstrap, group, topic) == total
    except AssertionError:
        time.sleep(0.5)  # each check is a new client: not more than twice a second
        return False


try:
    wait_until("every record consumed", lambda: len(consumed) >= total, timeout=120)
    wait_until("the committed offsets at the end of the log", at_end, timeout=60)
except AssertionError:
    missing = sorted(set(range(total)) - consumed)
    raise AssertionError(f"{len(missing)} never consumed, e.g. {missing[:20]}; "
                         f"commit failures: {[f for m in members for f in m.failures][:10]}")
for m in members:
    m.stop.set()
for m in members:
    m.join(30)
    assert m.error is None, f"{m.name_}: {m.error}"
assert sorted(consumed) == list(range(total))
assert check_committed_at_end(bootstrap, group, topic) == total
print(json.dumps({"duplicates": len(duplicates), "committed_one_by_one": len(committed),
                  "commit_failures": [f for m in members for f in m.failures][:5]}), flush=True)
