"""TLS clients for broker/tests/tls.rs.

usage: tls_clients.py BOOTSTRAP MODE TOPIC [CA [CERT KEY]]

MODE:
  confluent       confluent-kafka over SSL: produce 100 records (acks=all), consume them back
  kafka-python    the same with kafka-python
  expect-failure  confluent-kafka over SSL must fail: prints the client's errors, exits 0 only
                  if the delivery failed and an error names SSL/TLS
  count           over PLAINTEXT: prints the number of records in TOPIC (0 if it does not exist)
"""
import sys
import time

bootstrap, mode, topic = sys.argv[1], sys.argv[2], sys.argv[3]
ca = sys.argv[4] if len(sys.argv) > 4 else None
cert, key = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
N = 100


def confluent_conf():
    conf = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": ca}
    if cert:
        conf["ssl.certificate.location"] = cert
        conf["ssl.key.location"] = key
    return conf


def confluent():
    from confluent_kafka import Consumer, Producer

    p = Producer({**confluent_conf(), "acks": "all", "enable.idempotence": True})
    failed = []
    for i in range(N):
        p.produce(topic, key=b"k%d" % (i % 7), value=b"v%d" % i,
                  on_delivery=lambda err, msg: failed.append(err) if err else None)
    left = p.flush(60)
    assert left == 0 and not failed, f"undelivered {left}, failed {failed[:3]}"
    c = Consumer({**confluent_conf(), "group.id": "g-" + topic, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    seen = set()
    deadline = time.time() + 60
    while len(seen) < N and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.add(m.value())
    c.close()
    assert seen == {b"v%d" % i for i in range(N)}, f"consumed {len(seen)} of {N}"
    print(f"ok {len(seen)}")


def kafka_python():
    from kafka import KafkaConsumer, KafkaProducer

    ssl = {"security_protocol": "SSL", "ssl_cafile": ca}
    if cert:
        ssl.update(ssl_certfile=cert, ssl_keyfile=key)
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **ssl)
    futures = [p.send(topic, key=b"k%d" % (i % 7), value=b"v%d" % i) for i in range(N)]
    for f in futures:
        f.get(timeout=60)
    p.close()
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="g-" + topic,
                      auto_offset_reset="earliest", consumer_timeout_ms=20000, **ssl)
    seen = set()
    deadline = time.time() + 60
    while len(seen) < N and time.time() < deadline:
        for msgs in c.poll(timeout_ms=500).values():
            seen.update(m.value for m in msgs)
    c.close()
    assert seen == {b"v%d" % i for i in range(N)}, f"consumed {len(seen)} of {N}"
    print(f"ok {len(seen)}")


def expect_failure():
    from confluent_kafka import Producer

    errors = []
    delivered = []
    p = Producer({**confluent_conf(), "acks": "all", "message.timeout.ms": 5000,
                  "error_cb": lambda e: errors.append(str(e))})
    p.produce(topic, value=b"must-not-arrive",
              on_delivery=lambda err, msg: delivered.append(err))
    p.flush(10)
    print("errors:", errors)
    print("delivery:", [str(d) for d in delivered])
    ok = delivered and delivered[0] is not None and any(
        "ssl" in e.lower() or "tls" in e.lower() for e in errors)
    sys.exit(0 if ok else 1)


def count():
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        print(0)
        return
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "count-" + topic,
                  "allow.auto.create.topics": False})
    total = 0
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += hi - lo
    c.close()
    print(total)


{"confluent": confluent, "kafka-python": kafka_python, "expect-failure": expect_failure,
 "count": count}[mode]()
