"""Real-client checks for the operator e2e (confluent-kafka, i.e. librdkafka).

    kafka_tool.py view BOOTSTRAP TOPIC          -> cluster id, brokers, replicas and ISR per partition
    kafka_tool.py produce BOOTSTRAP TOPIC STOP  -> acks=all records `roll-<n>` until the STOP file exists
    kafka_tool.py produce-idempotent BOOTSTRAP TOPIC STOP -> the same with enable.idempotence
    kafka_tool.py consume BOOTSTRAP TOPIC       -> every value in the topic (all partitions, from the start)
    kafka_tool.py create BOOTSTRAP TOPIC PARTITIONS RF -> creates the topic (error if it fails)
    kafka_tool.py delete BOOTSTRAP TOPIC        -> deletes the topic
    kafka_tool.py fill BOOTSTRAP TOPIC N        -> N acks=all records `<topic>-<n>`, keyed, acknowledged

Each prints one JSON object on stdout. Every loop is bounded in time.
"""
import json
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient


def view(bootstrap, topic):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
    out = {
        "cluster_id": md.cluster_id,
        "controller_id": md.controller_id,
        "brokers": sorted(md.brokers),
        "replicas": {},
        "isr": {},
    }
    t = md.topics.get(topic)
    if t is not None:
        for p, pm in t.partitions.items():
            out["replicas"][str(p)] = sorted(pm.replicas)
            out["isr"][str(p)] = sorted(pm.isrs)
    return out


def produce(bootstrap, topic, stop_file, idempotent=False):
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "message.timeout.ms": 180000,
            "linger.ms": 5,
            "enable.idempotence": idempotent,
        }
    )
    acked, failed = [], []

    def on_delivery(err, msg):
        if err is None:
            acked.append(msg.value().decode())
        else:
            failed.append(str(err))

    sent = 0
    deadline = time.time() + 1200
    while not os.path.exists(stop_file) and time.time() < deadline:
        p.produce(topic, value=f"roll-{sent}".encode(), on_delivery=on_delivery)
        sent += 1
        p.poll(0.05)
    left = p.flush(90)
    return {"sent": sent, "acked": acked, "failed": failed[:20], "nfailed": len(failed), "unflushed": left}


def consume(bootstrap, topic):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"e2e-check-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    values, errors = [], []
    deadline = time.time() + 120
    idle_since = time.time()
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            # Done once nothing new came for 8 s after the first record.
            if values and time.time() - idle_since > 8:
                break
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                errors.append(str(m.error()))
            continue
        values.append(m.value().decode())
        idle_since = time.time()
    c.close()
    return {"values": values, "errors": errors[:20]}


def create(bootstrap, topic, partitions, rf):
    from confluent_kafka.admin import NewTopic

    # The client must outlive the future (its destructor fails pending requests).
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics(
        [NewTopic(topic, num_partitions=int(partitions), replication_factor=int(rf))],
        request_timeout=30,
    )
    fs[topic].result(timeout=60)
    return {"created": topic}


def delete(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.delete_topics([topic], request_timeout=30)
    fs[topic].result(timeout=60)
    return {"deleted": topic}


def fill(bootstrap, topic, n):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 60000})
    acked, failed = [], []

    def on_delivery(err, msg):
        (acked if err is None else failed).append(str(err) if err else msg.value().decode())

    for i in range(int(n)):
        p.produce(topic, key=str(i).encode(), value=f"{topic}-{i}".encode(), on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(90)
    return {"acked": len(acked), "failed": failed[:20], "unflushed": left}


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    modes = {
        "view": view,
        "produce": produce,
        "produce-idempotent": lambda b, t, stop: produce(b, t, stop, idempotent=True),
        "consume": consume,
        "create": create,
        "delete": delete,
        "fill": fill,
    }
    result = modes[mode](*args)
    print(json.dumps(result))
