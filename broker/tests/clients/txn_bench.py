"""Transactional against idempotent produce (the issue 17 benchmark): BOOTSTRAP TOPIC
TRANSACTIONS [REPLICATION_FACTOR, default 1; 3 with min.insync.replicas=2 on a cluster]. Writes TRANSACTIONS x 1,000 records of 1 KB to a 1-partition topic with an
idempotent producer (acks=all), then the same with a transactional producer committing every
1,000 records; prints MB/s of each and the commit latency p50/p99 (commit_transaction calls).
Not a test: run by hand against a release broker (see README, "Transactions")."""
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, topic, txns = sys.argv[1], sys.argv[2], int(sys.argv[3])
rf = int(sys.argv[4]) if len(sys.argv) > 4 else 1
configs = {"min.insync.replicas": "2"} if rf >= 3 else {}
PER_TXN = 1000
VALUE = b"x" * 1024
admin = AdminClient({"bootstrap.servers": bootstrap})
for t in (topic + "-idem", topic + "-txn"):
    for f in admin.create_topics([NewTopic(t, 1, rf, config=configs)]).values():
        f.result(30)
common = {"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1 << 20,
          "queue.buffering.max.messages": 1 << 20}


def produce_all(p, t, n):
    for _ in range(n):
        while True:
            try:
                p.produce(t, VALUE, partition=0)
                break
            except BufferError:
                p.poll(0.01)


p = Producer({**common, "enable.idempotence": True})
start = time.time()
produce_all(p, topic + "-idem", txns * PER_TXN)
p.flush(120)
idem = time.time() - start

p = Producer({**common, "transactional.id": "bench-" + topic})
p.init_transactions(30)
commits = []
start = time.time()
for _ in range(txns):
    p.begin_transaction()
    produce_all(p, topic + "-txn", PER_TXN)
    c = time.time()
    p.commit_transaction(60)
    commits.append(time.time() - c)
txn = time.time() - start
# The first commit also waits for the client's first metadata of the new topic (about 1 s in
# librdkafka): reported apart from the steady-state percentiles.
first = commits.pop(0)
commits.sort()
mb = txns * PER_TXN * 1024 / 1e6
print(f"idempotent {mb / idem:.1f} MB/s, transactional {mb / txn:.1f} MB/s "
      f"({txns} transactions of {PER_TXN} x 1 KB); commit p50 {commits[len(commits) // 2] * 1000:.1f} ms, "
      f"p99 {commits[min(len(commits) - 1, int(len(commits) * 0.99))] * 1000:.1f} ms "
      f"(first commit {first * 1000:.0f} ms)")
