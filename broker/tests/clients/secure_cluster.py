"""confluent-kafka admin and consumer over SASL_SSL/SCRAM-SHA-512 for
broker/tests/secure_cluster.rs. Client settings (security.protocol, sasl.*, ssl.ca.location)
come as JSON in $EDDY_CLIENT_CONFIG.

usage: secure_cluster.py BOOTSTRAP MODE ARGS...
  create TOPIC          RF 3, min.insync.replicas=2, one partition; prints "ok"
  describe TOPIC        prints "leader=<id> isr=<id,id,...>" (sorted), or "error: <message>"
  consume TOPIC COUNT   reads partition 0 from the start until COUNT records (bounded: 90 s);
                        prints one value per line
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, mode = sys.argv[1], sys.argv[2]
conf = {"bootstrap.servers": bootstrap}
conf.update(json.loads(os.environ.get("EDDY_CLIENT_CONFIG", "{}")))

if mode == "create":
    admin = AdminClient(conf)
    t = NewTopic(sys.argv[3], num_partitions=1, replication_factor=3,
                 config={"min.insync.replicas": "2"})
    admin.create_topics([t], operation_timeout=30)[sys.argv[3]].result(timeout=60)
    print("ok")
elif mode == "describe":
    admin = AdminClient(conf)
    try:
        md = admin.list_topics(topic=sys.argv[3], timeout=10)
        p = md.topics[sys.argv[3]].partitions[0]
        print(f"leader={p.leader} isr={','.join(str(i) for i in sorted(p.isrs))}")
    except Exception as e:  # noqa: BLE001 - the test retries
        print(f"error: {e}")
elif mode == "consume":
    topic, count = sys.argv[3], int(sys.argv[4])
    c = Consumer(dict(conf, **{"group.id": "secure-cluster-check", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.time() + 90
    while len(out) < count and time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        out.append(m.value().decode())
    c.close()
    print("\n".join(out))
else:
    sys.exit(f"unknown mode {mode}")
