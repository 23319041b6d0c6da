"""KIP-848 group across a coordinator kill (cluster mode, confluent-kafka): two members with
group.protocol=consumer consume and commit; at half way the script prints `half` and waits for
a line on stdin (the test kills the group coordinator meanwhile); the members carry on (they
find the new coordinator, rejoin when it does not know them) until every record is committed.
Commits are synchronous: a record counts once its commit is acknowledged, so a commit that
raced the kill may count twice (at least once), never zero. Args: bootstrap topic total."""
import json
import sys
import threading

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from groups_common import wait_until

bootstrap, topic, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
group = "kip848-failover"
lock = threading.Lock()
committed = {}
duplicates = []
commit_failures = []

p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
for i in range(total):
    p.produce(topic, key=f"k{i}".encode(), value=str(i).encode())
assert p.flush(60) == 0, "records not delivered"


class Member(threading.Thread):
    def __init__(self, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.stop = threading.Event()
        self.error = None
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "enable.auto.commit": False,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
        })
        self.consumer.subscribe([topic])

    def run(self):
        try:
            while not self.stop.is_set():
                msg = self.consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                try:
                    self.consumer.commit(message=msg, asynchronous=False)
                except KafkaException as e:
                    with lock:
                        commit_failures.append(str(e))
                    try:
                        self.consumer.seek(
                            TopicPartition(msg.topic(), msg.partition(), msg.offset()))
                    except KafkaException:
                        pass  # revoked meanwhile: the next owner starts at the committed offset
                    continue
                with lock:
                    v = int(msg.value())
                    if v in committed:
                        duplicates.append(v)
                    committed[v] = self.name_
        except Exception as e:  # surfaced by the main thread
            self.error = e
        finally:
            self.consumer.close()


members = [Member("m1"), Member("m2")]
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
                         f"commit failures: {commit_failures[:10]}")
for m in members:
    m.stop.set()
for m in members:
    m.join(30)
    assert m.error is None, f"{m.name_}: {m.error}"
assert sorted(committed) == list(range(total))
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
md = c.list_topics(topic, timeout=10)
parts = [TopicPartition(topic, q) for q in md.topics[topic].partitions]
for tp in c.committed(parts, timeout=30):
    lo, hi = c.get_watermark_offsets(tp, timeout=10)
    assert tp.offset == hi, f"partition {tp.partition}: committed {tp.offset}, end {hi}"
c.close()
print(json.dumps({"duplicates": len(duplicates), "commit_failures": commit_failures[:5]}),
      flush=True)
