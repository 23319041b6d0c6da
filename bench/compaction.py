"""Log compaction benchmarks (bench/compaction.sh starts the brokers):

  throughput <bootstrap> <records> <keys> <value bytes>
      writes <records> keyed records to a delete-policy topic, then switches it to
      cleanup.policy=compact; the broker log's "log cleaned" line gives the cleaner's rate.
  commits <bootstrap> <count>
      commits offsets 1..count for one partition in group "bench" (asynchronous commits,
      a synchronous one every 1,000), printing the commit rate.
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

cmd, bootstrap = sys.argv[1], sys.argv[2]

if cmd == "throughput":
    records, keys, size = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("bench-compact", 1, 1, config={
            "cleanup.policy": "delete", "retention.ms": "-1",
            "segment.bytes": str(16 << 20)})]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1 << 20,
                  "compression.type": "none", "queue.buffering.max.kbytes": 1 << 20})
    value = b"x" * size
    t0 = time.time()
    for i in range(records):
        while True:
            try:
                p.produce("bench-compact", key=b"key-%d" % (i % keys), value=value, partition=0)
                break
            except BufferError:
                p.poll(0.01)
    p.flush(300)
    dt = time.time() - t0
    print(f"produced {records} records of {size} B over {keys} keys in {dt:.1f} s "
          f"({records * size / dt / 1e6:.1f} MB/s)", flush=True)
    res = ConfigResource(ConfigResource.Type.TOPIC, "bench-compact",
                         set_config={"cleanup.policy": "compact", "retention.ms": "-1",
                                     "segment.bytes": str(16 << 20),
                                     "min.cleanable.dirty.ratio": "0.01"})
    for f in admin.alter_configs([res]).values():
        f.result(30)
    print("switched to cleanup.policy=compact", flush=True)
elif cmd == "commits":
    count = int(sys.argv[3])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("bench-src", 1, 1)]).values():
        try:
            f.result(30)
        except Exception:
            pass
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                  "enable.auto.commit": False})
    t0 = time.time()
    for i in range(1, count + 1):
        sync = i % 1000 == 0 or i == count
        while True:
            try:
                c.commit(offsets=[TopicPartition("bench-src", 0, i)], asynchronous=not sync)
                break
            except Exception:
                c.poll(0.01)
        if i % 200 == 0:
            c.poll(0)
    dt = time.time() - t0
    c.close()
    print(f"{count} commits in {dt:.1f} s ({count / dt:.0f}/s)", flush=True)
