"""confluent-kafka against topic compression.type and compacted topics (issue 17):

- a topic created with compression.type=gzip; idempotent producers with compression.type=none
  and lz4 write keyed records with headers into it; a consumer reads every record back intact;
  DescribeConfigs shows compression.type=gzip as a DYNAMIC_TOPIC_CONFIG;
- a cleanup.policy=compact topic: a keyless record fails with INVALID_RECORD and is not
  appended, keyed records are.

Prints "gzip-records <n>" and "compacted-end <offset>" for the Rust side, which then reads the
segment files. Exits non-zero on any mismatch."""
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

bootstrap = sys.argv[1]
T = 10
N = 200
admin = AdminClient({"bootstrap.servers": bootstrap})


def wait(futures):
    return {k: f.result(timeout=T) for k, f in futures.items()}


wait(admin.create_topics([
    NewTopic("gz", 1, 1, config={"compression.type": "gzip"}),
    NewTopic("compacted", 1, 1, config={"cleanup.policy": "compact"}),
]))

res = ConfigResource(ConfigResource.Type.TOPIC, "gz")
entry = wait(admin.describe_configs([res]))[res]["compression.type"]
assert entry.value == "gzip", entry.value
assert entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, entry.source

failures = []


def produce(codec, first):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "compression.type": codec,
        "linger.ms": 5,
        "batch.num.messages": 50,
    })

    def on_delivery(err, msg):
        if err is not None:
            failures.append(f"{codec}: {err.str()}")

    for i in range(first, first + N):
        p.produce("gz", key=f"k{i}".encode(), value=(f"value {i} " * 20).encode(),
                  headers=[("h", f"hv{i}".encode())], timestamp=1_700_000_000_000 + i,
                  on_delivery=on_delivery)
    assert p.flush(T) == 0, f"{codec}: records left unflushed"


produce("none", 0)
produce("lz4", N)
assert not failures, failures

c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "conform-reader",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
c.assign([TopicPartition("gz", 0, 0)])
seen = {}
for _ in range(200):
    if len(seen) == 2 * N:
        break
    for m in c.consume(500, timeout=0.5):
        assert m.error() is None, m.error()
        i = int(m.key().decode()[1:])
        assert m.value() == (f"value {i} " * 20).encode(), m.value()
        assert m.headers() == [("h", f"hv{i}".encode())], m.headers()
        assert m.timestamp()[1] == 1_700_000_000_000 + i, m.timestamp()
        assert m.offset() == i, (m.offset(), i)
        seen[i] = m.offset()
assert sorted(seen) == list(range(2 * N)), f"read {len(seen)} of {2 * N}"
print("gzip-records", len(seen), flush=True)

# Compacted topic: keyless refused with INVALID_RECORD, keyed accepted.
outcomes = []
p = Producer({"bootstrap.servers": bootstrap, "retries": 0, "linger.ms": 0})


def record_outcome(err, msg):
    outcomes.append((msg.key(), None if err is None else err))


p.produce("compacted", key=b"a", value=b"1", on_delivery=record_outcome)
p.flush(T)
p.produce("compacted", value=b"no key", on_delivery=record_outcome)
p.flush(T)
p.produce("compacted", key=b"b", value=b"2", on_delivery=record_outcome)
assert p.flush(T) == 0
assert len(outcomes) == 3, outcomes
assert outcomes[0] == (b"a", None), outcomes
assert outcomes[2] == (b"b", None), outcomes
err = outcomes[1][1]
assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
print("keyless-error", err.name(), err.str(), flush=True)
low, high = c.get_watermark_offsets(TopicPartition("compacted", 0), timeout=T)
assert (low, high) == (0, 2), (low, high)
c.assign([TopicPartition("compacted", 0, 0)])
got = []
for _ in range(40):
    if len(got) == 2:
        break
    got += [(m.key(), m.value()) for m in c.consume(10, timeout=0.5) if m.error() is None]
assert got == [(b"a", b"1"), (b"b", b"2")], got
print("compacted-end", high, flush=True)
c.close()
