"""Topic compression.type cost: confluent-kafka produces COUNT records of 1 KB (compressible
text, lz4, idempotent, acks=all) into one topic per topic codec (producer = stored as sent,
uncompressed, gzip at levels 6 and 1, snappy, lz4 at level 1, zstd) and reports, per topic, the wall time to
flush, the broker's CPU seconds during the run (from /proc/<pid>/stat) and the bytes on disk.

usage: recompress.py BOOTSTRAP BROKER_PID DATA_DIR [COUNT]"""
import os
import random
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, pid, data_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 100_000
tick = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


def disk_bytes(topic):
    d = os.path.join(data_dir, f"{topic}-0")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))


rng = random.Random(7)
words = [("w%d" % i).encode() for i in range(500)]
values = [b" ".join(rng.choice(words) for _ in range(256))[:1024] for _ in range(1000)]

admin = AdminClient({"bootstrap.servers": bootstrap})
topics = {
    "producer": {},
    "uncompressed": {"compression.type": "uncompressed"},
    "gzip": {"compression.type": "gzip"},
    "gzip-1": {"compression.type": "gzip", "compression.gzip.level": "1"},
    "snappy": {"compression.type": "snappy"},
    "lz4-1": {"compression.type": "lz4", "compression.lz4.level": "1"},
    "zstd": {"compression.type": "zstd"},
}
for f in admin.create_topics([NewTopic(f"t-{n}", 1, 1, config=c) for n, c in topics.items()]).values():
    f.result(timeout=10)

print(f"{'topic codec':14} {'wall s':>7} {'broker cpu s':>13} {'MB/s':>7} {'on disk MB':>11}")
for name in topics:
    topic = f"t-{name}"
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "compression.type": "lz4", "linger.ms": 5, "batch.size": 1_000_000})
    cpu0, t0 = cpu_seconds(), time.monotonic()
    for i in range(count):
        while True:
            try:
                p.produce(topic, value=values[i % len(values)])
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(120) == 0
    wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    mb = count * 1024 / 1e6
    print(f"{name:14} {wall:7.2f} {cpu:13.2f} {mb / wall:7.1f} {disk_bytes(topic) / 1e6:11.1f}",
          flush=True)
