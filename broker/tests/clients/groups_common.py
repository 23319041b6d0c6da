"""Shared helpers of the consumer-group and transaction client scripts (bounded loops, fast group
settings, reading a topic back whole)."""
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

# Small timeouts so that rebalances and expiries happen within a test's budget.
FAST = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "max.poll.interval.ms": 15000,
    "auto.offset.reset": "earliest",
    "topic.metadata.refresh.interval.ms": 2000,
}


def produce(bootstrap, topic, start, count):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, key=f"k{i}".encode(), value=str(i).encode())
    left = p.flush(30)
    assert left == 0, f"{left} messages not delivered"


def wait_until(what, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class CommitLog:
    """Which member committed each record (values are the integers `produce` writes): the
    `on_commit` of `CommittingMember`s, with the exactly-once checks over them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.committed = {}  # value -> member name
        self.duplicates = []

    def on_commit(self, name, msg):
        with self.lock:
            v = int(msg.value())
            if v in self.committed:
                self.duplicates.append((v, self.committed[v], name))
            self.committed[v] = name

    def count(self):
        with self.lock:
            return len(self.committed)

    def by(self, name):
        with self.lock:
            return sum(1 for c in self.committed.values() if c == name)

    def wait_all(self, n, members, timeout):
        """Waits until values 0..n were committed; on timeout says which were not and which
        commits raced a rebalance."""
        try:
            wait_until("every message committed", lambda: self.count() >= n, timeout=timeout)
        except AssertionError:
            with self.lock:
                missing = sorted(set(range(n)) - set(self.committed))
            failures = [f for m in members for f in m.failures]
            raise AssertionError(f"{len(missing)} messages never committed, e.g. {missing[:20]}; "
                                 f"commits that raced a rebalance: {failures[:20]}")

    def check_exactly_once(self, n):
        assert not self.duplicates, f"consumed twice: {self.duplicates[:10]}"
        assert sorted(self.committed) == list(range(n)), "missing messages"


class CommittingMember(threading.Thread):
    """A confluent-kafka group member that commits every record synchronously, in a thread.

    `config` adds to bootstrap/group/client id (the protocol, assignor and timeouts);
    `on_commit(name, msg)` runs for each record whose commit the coordinator acknowledged,
    `on_consume(name, msg)` (optional) for each record handed to the application.
    A commit that fails (it raced a rebalance: ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS on the
    classic protocol, STALE_MEMBER_EPOCH / UNKNOWN_MEMBER_ID on the consumer protocol) leaves the
    record uncommitted: the member rewinds to it, or nobody would commit it while the partition
    stays here (tests/group_commit_race.rs reproduces that hang); if the partition moved, its
    next owner starts at the committed offset. Failures are kept in `failures`."""

    def __init__(self, name, bootstrap, group, topic, config, on_commit, on_consume=None):
        super().__init__(daemon=True)
        self.name_ = name
        self.stop = threading.Event()
        self.error = None
        self.assigned = False
        self.failures = []
        self.on_commit = on_commit
        self.on_consume = on_consume
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
            **config,
        })
        self.consumer.subscribe([topic])

    def run(self):
        try:
            while not self.stop.is_set():
                msg = self.consumer.poll(0.2)
                if self.consumer.assignment():
                    self.assigned = True
                if msg is None or msg.error():
                    continue
                if self.on_consume:
                    self.on_consume(self.name_, msg)
                try:
                    self.consumer.commit(message=msg, asynchronous=False)
                except KafkaException as e:
                    self.failures.append((msg.partition(), msg.offset(), str(e)))
                    try:
                        self.consumer.seek(
                            TopicPartition(msg.topic(), msg.partition(), msg.offset()))
                    except KafkaException:
                        pass  # no longer assigned here: the next owner consumes it
                    continue
                self.on_commit(self.name_, msg)
        except Exception as e:  # surfaced by the main thread through `error`
            self.error = e
        finally:
            self.consumer.close()


def check_committed_at_end(bootstrap, group, topic):
    """The group's committed offsets are at the end of every partition; returns the total."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    md = c.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
    total = 0
    for tp in c.committed(parts, timeout=30):
        lo, hi = c.get_watermark_offsets(tp, timeout=10)
        assert tp.offset == hi, f"partition {tp.partition}: committed {tp.offset}, end {hi}"
        total += hi
    c.close()
    return total


def read_all(bootstrap, topic, partitions, isolation, want, quiet_s=3.0, deadline_s=90):
    """Reads every partition of `topic` from the start with `isolation` (read_committed or
    read_uncommitted) until `want` messages and then `quiet_s` without more (so that extra
    records would be seen), bounded by `deadline_s`. Returns the messages."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "reader-" + uuid.uuid4().hex,
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.monotonic() + deadline_s
    last = time.monotonic()
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(got) >= want and time.monotonic() - last > quiet_s:
                break
            continue
        if m.error():
            raise RuntimeError(f"consumer error: {m.error()}")
        got.append(m)
        last = time.monotonic()
    c.close()
    return got
