"""Real-client checks of KafkaUser credentials for the operator e2e (confluent-kafka, i.e.
librdkafka), configured only from what a KafkaUser's Secret and the cluster CA Secret hold.

    user_tool.py login BOOTSTRAP CONFIG                  -> {"ok": bool, "error": str}
    user_tool.py produce BOOTSTRAP CONFIG TOPIC N        -> {"acked": int, "errors": [str]}
    user_tool.py consume BOOTSTRAP CONFIG TOPIC GROUP N  -> {"values": [str], "error": str}

CONFIG is a JSON object of librdkafka settings (security.protocol, sasl.*, ssl.ca.location).
Each prints one JSON object on stdout. Every loop is bounded in time.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient


def login(bootstrap, config):
    try:
        AdminClient({"bootstrap.servers": bootstrap, **config}).list_topics(timeout=10)
        return {"ok": True, "error": ""}
    except KafkaException as e:
        return {"ok": False, "error": str(e)}


def produce(bootstrap, config, topic, n):
    errors = []
    acked = []

    def on_delivery(err, msg):
        if err is None:
            acked.append(msg.value())
        else:
            errors.append(str(err))

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "message.timeout.ms": 20000,
            "error_cb": lambda e: errors.append(str(e)),
            **config,
        }
    )
    for i in range(n):
        p.produce(topic, value=f"user-{i}".encode(), on_delivery=on_delivery)
        p.poll(0)
    p.flush(30)
    return {"acked": len(acked), "errors": errors[:10]}


def consume(bootstrap, config, topic, group, n):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **config,
        }
    )
    c.subscribe([topic])
    values, error = [], ""
    deadline = time.time() + 60
    while len(values) < n and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            error = str(m.error())
            if not m.error().retriable():
                break
            continue
        values.append(m.value().decode())
    c.close()
    return {"values": values, "error": error}


def main():
    cmd, bootstrap, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if cmd == "login":
        out = login(bootstrap, config)
    elif cmd == "produce":
        out = produce(bootstrap, config, sys.argv[4], int(sys.argv[5]))
    elif cmd == "consume":
        out = consume(bootstrap, config, sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
