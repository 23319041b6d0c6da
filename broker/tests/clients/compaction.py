"""confluent-kafka client steps of the compaction tests (tests/compaction.rs).

  create <topic> <key=value>...       creates a 1-partition topic with these configs
  idem <topic> <rounds> <tag> [<partition dir> <rounds after>]
                                      an idempotent producer writes k0..k9 <rounds> times with
                                      values "<tag>-<round>", one flush per round; with a partition
                                      directory it then waits (bounded) until the cleaner has
                                      cleaned that partition and writes <rounds after> more rounds
                                      with the same producer. Prints "done <errors>".
  commits <group> <topic> <n>         commits offsets 1..n for <topic>-0 in <group>; "done"
  committed <group> <topic>           prints "committed <offset>"
  watermarks <topic>                  prints "low <l> high <h>"
"""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]


def cleaned(dir_path):
    try:
        with open(os.path.join(dir_path, "cleaner-checkpoint")) as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "dirty" and int(parts[1]) > 0:
                    return True
    except OSError:
        pass
    return False


if cmd == "create":
    topic, configs = args[0], dict(a.split("=", 1) for a in args[1:])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, 1, 1, config=configs)])
    for f in fs.values():
        f.result(30)
    print("created", flush=True)
elif cmd == "idem":
    topic, rounds, tag = args[0], int(args[1]), args[2]
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err.str())

    def write(first, count):
        for r in range(first, first + count):
            for k in range(10):
                p.produce(topic, key=f"k{k}".encode(), value=f"{tag}-{r}".encode(),
                          partition=0, on_delivery=on_delivery)
            p.flush(30)

    write(0, rounds)
    if len(args) > 3:
        deadline = time.time() + 60
        while not cleaned(args[3]) and time.time() < deadline:
            time.sleep(0.1)
        if not cleaned(args[3]):
            print("never cleaned", flush=True)
            sys.exit(2)
        write(rounds, int(args[4]))
    print("done", len(errors), errors[:3], flush=True)
elif cmd == "commits":
    group, topic, n = args[0], args[1], int(args[2])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    for i in range(1, n + 1):
        c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=(i % 100 != 0 and i != n))
        if i % 100 == 0:
            c.poll(0)
    c.close()
    print("done", flush=True)
elif cmd == "committed":
    group, topic = args[0], args[1]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    got = c.committed([TopicPartition(topic, 0)], timeout=30)
    print("committed", got[0].offset, flush=True)
    c.close()
elif cmd == "watermarks":
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    low, high = c.get_watermark_offsets(TopicPartition(args[0], 0), timeout=30)
    print("low", low, "high", high, flush=True)
    c.close()
else:
    sys.exit(f"unknown step {cmd}")
