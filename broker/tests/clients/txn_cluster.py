"""confluent-kafka transactions against a three-broker cluster: BOOTSTRAP SCENARIO TOPIC [ARGS].

basic    on a 6-partition RF=3 topic (leaders spread over the brokers): commit 6 records on
         every partition, abort 4 on every partition, commit 6 more; a read_committed consumer
         sees exactly the 72 committed records, a read_uncommitted one all 96. Then offsets in
         transactions (send_offsets_to_transaction, the group's coordinator possibly on another
         broker than the transaction's): an aborted transaction leaves the group's offsets
         unchanged, a committed one commits them (checked with a require_stable reader). Then measures
         transactional produce: TXNS transactions of 100 x 1 KB records each (ARGS: TXNS),
         printing "ok <committed> <all> mb_s=<MB/s> commit_p50_ms=.. commit_p99_ms=..".
crash    (ARGS: DIR) commits one transaction of 30 records (5 per partition), sends 30 more in
         a second transaction (all acknowledged), touches DIR/ready, waits for DIR/go (the test
         kills -9 the coordinator's broker meanwhile), then commits the second. Prints
         "committed" or "failed <error>" (after which it aborts if it can).
verify   (ARGS: N) a read_committed consumer sees exactly N records, all of whole
         transactions ("first-*" and, if N is 60, "second-*"), each once.
Any failed check raises (non-zero exit)."""
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from groups_common import read_all

bootstrap, scenario, topic = sys.argv[1], sys.argv[2], sys.argv[3]
PARTITIONS = 6
DEADLINE_S = 90


def create():
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 3)]).values():
        f.result(30)


def producer(tid, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(60)
    return p


def consume(isolation, want):
    return [m.value().decode() for m in read_all(bootstrap, topic, PARTITIONS, isolation, want)]


def send(p, prefix, per_partition, size=0):
    pad = "x" * size
    for part in range(PARTITIONS):
        for i in range(per_partition):
            p.produce(topic, f"{prefix}-{part}-{i}{pad}".encode(), partition=part)
    p.flush(60)


def basic():
    create()
    p = producer("cluster-basic")
    p.begin_transaction()
    send(p, "c1", 6)
    p.commit_transaction(60)
    p.begin_transaction()
    send(p, "a1", 4)
    p.abort_transaction(60)
    p.begin_transaction()
    send(p, "c2", 6)
    p.commit_transaction(60)
    committed = consume("read_committed", 72)
    assert len(committed) == 72, f"read_committed saw {len(committed)}"
    assert all(v.startswith("c") for v in committed), "an aborted record is visible"
    assert len(set(committed)) == 72, "a committed record is duplicated"
    everything = consume("read_uncommitted", 96)
    assert len(everything) == 96, f"read_uncommitted saw {len(everything)}"
    offsets_in_transactions(p)
    txns = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    per_txn, size = 100, 1000
    commits = []
    started = time.time()
    for n in range(txns):
        p.begin_transaction()
        for i in range(per_txn):
            p.produce(topic, (f"b-{n}-{i}-" + "x" * size).encode()[:size], partition=i % PARTITIONS)
        t = time.time()
        p.commit_transaction(60)
        commits.append((time.time() - t) * 1000)
    elapsed = time.time() - started
    commits.sort()
    mb = txns * per_txn * size / 1e6
    print(
        f"ok {len(committed)} {len(everything)} mb_s={mb / elapsed:.2f} "
        f"commit_p50_ms={commits[len(commits) // 2]:.1f} "
        f"commit_p99_ms={commits[min(len(commits) - 1, int(len(commits) * 0.99))]:.1f}"
    )


def offsets_in_transactions(p):
    group = "eos-" + uuid.uuid4().hex[:8]
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, q, 0) for q in range(PARTITIONS)])
    deadline = time.time() + DEADLINE_S
    while c.poll(0.2) is None:
        if time.time() > deadline:
            raise RuntimeError("no records to consume")
    meta = c.consumer_group_metadata()
    aborted = [TopicPartition(topic, q, 1) for q in range(PARTITIONS)]
    p.begin_transaction()
    p.produce(topic, b"c-offsets-aborted", partition=0)
    p.send_offsets_to_transaction(aborted, meta, 60)
    p.abort_transaction(60)
    after_abort = c.committed([TopicPartition(topic, q) for q in range(PARTITIONS)], 30)
    assert all(tp.offset < 0 for tp in after_abort), f"aborted offsets committed: {after_abort}"
    committed = [TopicPartition(topic, q, 5) for q in range(PARTITIONS)]
    p.begin_transaction()
    p.produce(topic, b"c-offsets-committed", partition=0)
    p.send_offsets_to_transaction(committed, meta, 60)
    p.commit_transaction(60)
    got = c.committed([TopicPartition(topic, q) for q in range(PARTITIONS)], 30)
    offsets = sorted(tp.offset for tp in got)
    assert offsets == [5] * PARTITIONS, f"committed offsets {offsets}"
    c.close()


def crash():
    d = sys.argv[4]
    create()
    p = producer("cluster-crash", **{"transaction.timeout.ms": 60000})
    p.begin_transaction()
    send(p, "first", 5)
    p.commit_transaction(60)
    p.begin_transaction()
    send(p, "second", 5)
    open(os.path.join(d, "ready"), "w").close()
    deadline = time.time() + DEADLINE_S
    while not os.path.exists(os.path.join(d, "go")):
        if time.time() > deadline:
            raise RuntimeError("no go")
        time.sleep(0.1)
    started = time.time()
    try:
        p.commit_transaction(90)
        print(f"committed after {time.time() - started:.2f} s")
    except KafkaException as e:
        print(f"failed after {time.time() - started:.2f} s: {e}")
        err = e.args[0]
        if err.txn_requires_abort():
            try:
                p.abort_transaction(60)
            except KafkaException as e2:
                print(f"abort failed {e2}")


def verify():
    n = int(sys.argv[4])
    got = consume("read_committed", n)
    assert len(got) == n, f"read_committed saw {len(got)}, not {n}"
    assert len(set(got)) == n, "a record is duplicated"
    first = [v for v in got if v.startswith("first-")]
    second = [v for v in got if v.startswith("second-")]
    assert len(first) == 30, f"{len(first)} records of the first transaction"
    assert len(second) in (0, 30), f"a torn transaction: {len(second)} of 30 visible"
    assert len(first) + len(second) == n
    print("ok")


{"basic": basic, "crash": crash, "verify": verify}[scenario]()
