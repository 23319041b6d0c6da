"""confluent-kafka transactions against one broker: BOOTSTRAP SCENARIO TOPIC.

basic    commit (three partitions, send_offsets_to_transaction), abort, commit again; a
         read_committed consumer sees exactly the committed records, a read_uncommitted one all
         of them; the transaction's offsets are committed for the group.
zombie   a second producer with the same transactional.id fences the first, whose open
         transaction is aborted and whose commit fails; only the second's records are visible.
timeout  a transaction left open past transaction.timeout.ms is aborted by the broker: a
         read_committed consumer gets past it without its records and the producer's commit
         fails.
crash    (extra arg DIR) commits one transaction, leaves a second open with its records
         acknowledged, touches DIR/ready and waits for DIR/go (the test kills -9 and restarts
         the broker meanwhile), then commits the second.
verify   (extra arg N) a read_committed consumer sees exactly the N records of the crash
         scenario.
Prints "ok <details>" on success; any failed check raises (non-zero exit)."""
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, scenario, topic = sys.argv[1], sys.argv[2], sys.argv[3]
DEADLINE_S = 60


def create(partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(30)


def producer(tid, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(30)
    return p


def consume(isolation, want, partitions, stop_at=None):
    """Reads every partition from the start until `want` records (or `stop_at` is seen)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "reader-" + uuid.uuid4().hex,
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline and len(got) < want:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise RuntimeError(f"consumer error: {m.error()}")
        v = m.value().decode()
        got.append(v)
        if stop_at is not None and v == stop_at:
            break
    # A little longer: anything beyond `want` would be a wrong extra record.
    extra_until = time.time() + 1.0
    while time.time() < extra_until and stop_at is None:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    return got


def basic():
    create(3)
    group = "txn-group-" + uuid.uuid4().hex
    meta_consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    p = producer("tx-basic")
    committed = []
    p.begin_transaction()
    for i in range(30):
        v = f"c1-{i}"
        p.produce(topic, value=v.encode(), partition=i % 3)
        committed.append(v)
    p.send_offsets_to_transaction(
        [TopicPartition(topic, 0, 42), TopicPartition(topic, 1, 7)],
        meta_consumer.consumer_group_metadata(), 30)
    p.commit_transaction(30)
    aborted = []
    p.begin_transaction()
    for i in range(20):
        v = f"a-{i}"
        p.produce(topic, value=v.encode(), partition=i % 3)
        aborted.append(v)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(10):
        v = f"c2-{i}"
        p.produce(topic, value=v.encode(), partition=i % 3)
        committed.append(v)
    p.commit_transaction(30)
    rc = consume("read_committed", len(committed), 3)
    assert sorted(rc) == sorted(committed), f"read_committed saw {sorted(rc)}"
    ru = consume("read_uncommitted", len(committed) + len(aborted), 3)
    assert sorted(ru) == sorted(committed + aborted), f"read_uncommitted saw {sorted(ru)}"
    offs = meta_consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], 30)
    assert [o.offset for o in offs] == [42, 7], f"committed offsets {offs}"
    meta_consumer.close()
    print("ok", len(rc), len(ru), flush=True)


def zombie():
    create(1)
    p1 = producer("tx-zombie")
    p1.begin_transaction()
    p1.produce(topic, value=b"zombie-1", partition=0)
    p1.flush(30)
    p2 = producer("tx-zombie")  # fences p1 and aborts its open transaction
    fenced = False
    try:
        p1.produce(topic, value=b"zombie-2", partition=0)
        p1.commit_transaction(30)
    except KafkaException as e:
        err = e.args[0]
        fenced = err.fatal() and "fenced" in err.str().lower()
        print("zombie error:", err.str(), flush=True)
    assert fenced, "the fenced producer committed"
    p2.begin_transaction()
    p2.produce(topic, value=b"live-1", partition=0)
    p2.commit_transaction(30)
    rc = consume("read_committed", 1, 1)
    assert rc == ["live-1"], f"read_committed saw {rc}"
    print("ok", rc, flush=True)


def timeout():
    create(1)
    p = producer("tx-timeout", **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    p.produce(topic, value=b"expired-1", partition=0)
    p.flush(30)
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, value=b"after", partition=0)
    plain.flush(30)
    # "after" is behind the open transaction: read_committed reaches it only once the broker
    # has aborted the transaction.
    rc = consume("read_committed", 10, 1, stop_at="after")
    assert rc == ["after"], f"read_committed saw {rc}"
    failed = False
    try:
        p.commit_transaction(30)
    except KafkaException as e:
        failed = True
        print("expired commit error:", e.args[0].str(), flush=True)
    assert failed, "the timed-out transaction committed"
    print("ok", rc, flush=True)


def crash():
    import os
    d = sys.argv[4]
    create(1)
    p = producer("tx-crash", **{"message.timeout.ms": 60000, "reconnect.backoff.max.ms": 200})
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=f"first-{i}".encode(), partition=0)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=f"second-{i}".encode(), partition=0)
    p.flush(30)
    open(os.path.join(d, "ready"), "w").close()
    deadline = time.time() + 90
    while not os.path.exists(os.path.join(d, "go")):
        assert time.time() < deadline, "no go from the test"
        time.sleep(0.05)
    p.commit_transaction(60)
    print("ok committed", flush=True)


def verify():
    want = [f"first-{i}" for i in range(10)] + [f"second-{i}" for i in range(10)]
    n = int(sys.argv[4])
    rc = consume("read_committed", n, 1)
    assert sorted(rc) == sorted(want[:n]), f"read_committed saw {sorted(rc)}"
    print("ok", len(rc), flush=True)


{"basic": basic, "zombie": zombie, "timeout": timeout, "crash": crash, "verify": verify}[scenario]()
