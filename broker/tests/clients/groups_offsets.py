"""Commits offsets with metadata (phase "commit") or checks them after a restart (phase
"check"). Args: bootstrap topic group phase base."""
import sys

from confluent_kafka import Consumer, Producer, TopicPartition


bootstrap, topic, group, phase, base = sys.argv[1:6]
base = int(base)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
if phase == "commit":
    if base == 10:
        # 40 records in each of the 3 partitions (the lag gauge check relies on it).
        p = Producer({"bootstrap.servers": bootstrap})
        for part in range(3):
            for i in range(40):
                p.produce(topic, value=b"x", partition=part)
        assert p.flush(30) == 0
    offsets = [TopicPartition(topic, p, base + p, metadata=f"meta-{base}-{p}") for p in range(3)]
    res = c.commit(offsets=offsets, asynchronous=False)
    assert all(tp.error is None for tp in res), res
got = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
for tp in got:
    assert tp.error is None, tp
    assert tp.offset == base + tp.partition, f"p{tp.partition}: {tp.offset}"
    assert tp.metadata == f"meta-{base}-{tp.partition}", f"p{tp.partition}: {tp.metadata!r}"
c.close()
print("ok", [(tp.partition, tp.offset, tp.metadata) for tp in got])
