"""kafka-python pinned to an old broker version (no ApiVersions negotiation: it sends the
request versions it would send to that broker). For every codec it can write in that message
format: produce keyed records, consume them from the beginning in a consumer group, commit,
read the commits back, and (0.10.1+) look offsets up by time and the end offsets. Then records
written by a current client (headers, zstd, magic 2) are read with the pinned client.

Args: bootstrap prefix version (e.g. 0.10.1)."""
import sys
import time

from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, prefix, version = sys.argv[1], sys.argv[2], sys.argv[3]
V = tuple(int(x) for x in version.split("."))
N = 40
# Magic 0 (before 0.10) has no timestamps, and its LZ4 frames carry the pre-0.10 header
# checksum (KAFKA-3160); kafka-python refuses LZ4 for brokers before 0.8.2.
CODECS = [None, "gzip", "snappy"] + (["lz4"] if V >= (0, 8, 2) else [])


def topic_of(codec):
    return f"{prefix}-{codec or 'none'}"


t0 = int(time.time() * 1000)
expected = {}
for codec in CODECS:
    p = KafkaProducer(bootstrap_servers=bootstrap, api_version=V, acks="all",
                      compression_type=codec, linger_ms=20)
    topic = topic_of(codec)
    futures = []
    for i in range(N):
        kw = {"timestamp_ms": t0 + i} if V >= (0, 10) else {}
        value = f"{codec}-{i}-{'x' * (i % 7)}".encode()
        futures.append(p.send(topic, key=f"k{i}".encode(), value=value, partition=i % 2, **kw))
        expected[(topic, value)] = (f"k{i}".encode(), t0 + i if V >= (0, 10) else None)
    p.flush(30)
    for f in futures:
        f.get(timeout=30)
    p.close()

topics = [topic_of(c) for c in CODECS]
c = KafkaConsumer(*topics, bootstrap_servers=bootstrap, api_version=V, group_id=f"{prefix}-g",
                  auto_offset_reset="earliest", enable_auto_commit=False,
                  session_timeout_ms=6000, heartbeat_interval_ms=500,
                  consumer_timeout_ms=20000)
seen = {}
for m in c:
    seen[(m.topic, m.value)] = (m.key, m.timestamp if V >= (0, 10) else None)
    if len(seen) >= len(expected):
        break
assert seen == expected, f"got {len(seen)} of {len(expected)}; differing: " + repr(
    [(k, seen.get(k), v) for k, v in expected.items() if seen.get(k) != v][:5])
c.commit()
parts = [TopicPartition(t, p) for t in topics for p in (0, 1)]
committed = {(tp.topic, tp.partition): c.committed(tp) for tp in parts}
assert all(o == N // 2 for o in committed.values()), committed
if V >= (0, 10, 1):
    end = c.end_offsets(parts)
    assert all(o == N // 2 for o in end.values()), end
    tp = TopicPartition(topics[0], 1)
    by_time = c.offsets_for_times({tp: t0 + 21})
    assert by_time[tp].offset == 10, by_time  # record 21 is the 11th on partition 1
c.close()

# A record from a current client (magic 2, headers, a codec magic 0/1 lacks) read back with
# the pinned client: key, value and (magic 1) timestamp intact, headers dropped.
new_topic = f"{prefix}-from-new"
# zstd, which magic 0/1 cannot carry, for the versions that get down-converted messages;
# 0.11+ reads record batches itself, and this venv's kafka-python has no zstd codec.
new_codec = "zstd" if V < (0, 11) else "gzip"
new = Producer({"bootstrap.servers": bootstrap, "compression.type": new_codec, "linger.ms": 5})
for i in range(5):
    new.produce(new_topic, key=f"nk{i}", value=f"nv{i}", headers=[("h", b"x")],
                timestamp=t0 + 1000 + i, partition=0)
assert new.flush(30) == 0
c = KafkaConsumer(new_topic, bootstrap_servers=bootstrap, api_version=V,
                  auto_offset_reset="earliest", enable_auto_commit=False,
                  consumer_timeout_ms=15000)
got = []
for m in c:
    got.append((m.key, m.value, m.timestamp if V >= (0, 10) else None, m.offset))
    if len(got) >= 5:
        break
c.close()
want = [(f"nk{i}".encode(), f"nv{i}".encode(), t0 + 1000 + i if V >= (0, 10) else None, i)
        for i in range(5)]
assert got == want, (got, want)
print("ok", V, len(seen), "records")
