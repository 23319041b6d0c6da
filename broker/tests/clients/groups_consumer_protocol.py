"""KIP-848 (group.protocol=consumer, confluent-kafka): consumers of one group join and leave while
messages flow, the broker assigns partitions with its server-side assignor; every message must
be consumed-and-committed exactly once across members. Args: bootstrap topic assignor."""
import json
import sys
import threading

from confluent_kafka import Consumer, KafkaException, TopicPartition

from groups_common import produce, wait_until

bootstrap, topic, assignor = sys.argv[1], sys.argv[2], sys.argv[3]
group = f"kip848-{assignor}"
lock = threading.Lock()
committed = {}  # value -> consumer name
duplicates = []
assigned_ever = {}
commit_failures = []  # (partition, offset, error) of commits that raced a rebalance


class Member(threading.Thread):
    def __init__(self, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.stop = threading.Event()
        self.count = 0
        self.error = None
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "enable.auto.commit": False,
            "group.protocol": "consumer",
            "group.remote.assignor": assignor,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
        })
        self.consumer.subscribe([topic])

    def run(self):
        try:
            while not self.stop.is_set():
                msg = self.consumer.poll(0.2)
                if self.consumer.assignment():
                    assigned_ever[self.name_] = True
                if msg is None or msg.error():
                    continue
                try:
                    self.consumer.commit(message=msg, asynchronous=False)
                except KafkaException as e:
                    # The commit raced a reconciliation (STALE_MEMBER_EPOCH: the member's
                    # epoch moved between the fetch and the commit) or the partition was
                    # revoked meanwhile. The record is not committed: rewind to it, or nobody
                    # would commit it while the partition stays here.
                    with lock:
                        commit_failures.append((msg.partition(), msg.offset(), str(e)))
                    try:
                        self.consumer.seek(
                            TopicPartition(msg.topic(), msg.partition(), msg.offset()))
                    except KafkaException:
                        pass  # no longer assigned here: the next owner consumes it
                    continue
                with lock:
                    v = int(msg.value())
                    if v in committed:
                        duplicates.append((v, committed[v], self.name_))
                    committed[v] = self.name_
                    self.count += 1
        except Exception as e:  # surfaced by the main thread
            self.error = e
        finally:
            self.consumer.close()


produce(bootstrap, topic, 0, 300)
members = {"c1": Member("c1")}
members["c1"].start()
wait_until("c1 consuming", lambda: len(committed) >= 30)
for n in ("c2", "c3"):
    members[n] = Member(n)
    members[n].start()
wait_until("three members assigned", lambda: len(assigned_ever) == 3)
produce(bootstrap, topic, 300, 300)
wait_until("half of the second batch", lambda: len(committed) >= 450)
members["c2"].stop.set()
members["c2"].join(30)
try:
    wait_until("every message committed", lambda: len(committed) >= 600, timeout=90)
except AssertionError:
    missing = sorted(set(range(600)) - set(committed))
    raise AssertionError(f"{len(missing)} messages never committed, e.g. {missing[:20]}; "
                         f"commits that raced a rebalance: {commit_failures[:20]}")
for m in members.values():
    m.stop.set()
for m in members.values():
    m.join(30)
    assert m.error is None, f"{m.name_}: {m.error}"
assert not duplicates, f"consumed twice: {duplicates[:10]}"
assert sorted(committed) == list(range(600)), "missing messages"
counts = {n: m.count for n, m in members.items()}

# The group's committed offsets are at the end of every partition.
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
md = c.list_topics(topic, timeout=10)
parts = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
total = 0
for tp in c.committed(parts, timeout=10):
    lo, hi = c.get_watermark_offsets(tp, timeout=10)
    assert tp.offset == hi, f"partition {tp.partition}: committed {tp.offset}, end {hi}"
    total += hi
c.close()
assert total == 600
print(json.dumps({"counts": counts, "assignor": assignor,
                  "commit_failures": commit_failures[:20]}))
