"""confluent-kafka and kafka-python over SASL_SSL / SASL_PLAINTEXT for broker/tests/security_clients.rs.

usage: sec_clients.py BOOTSTRAP MODE LIB PROTOCOL MECHANISM USER PASSWORD CA [TOPIC]
  roundtrip  AdminClient create TOPIC and list topics, produce 20 records, consume them in a
             consumer group (committing); prints "ok 20"
  login      list topics only; prints "ok" or "error: <what the client reports>"
LIB is confluent or kafka-python; PROTOCOL SASL_SSL or SASL_PLAINTEXT; CA a PEM file or "-".
Every wait is bounded.
"""
import logging
import sys
import time
import uuid

T = 30
N = 20


def confluent_conf(protocol, mechanism, user, password, ca):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": protocol,
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if ca != "-":
        conf["ssl.ca.location"] = ca
    return conf


def kp_conf(protocol, mechanism, user, password, ca):
    conf = dict(
        bootstrap_servers=BOOTSTRAP,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_plain_username=user,
        sasl_plain_password=password,
    )
    if ca != "-":
        conf["ssl_cafile"] = ca
    return conf


def roundtrip_confluent(conf, topic):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=T)
    topics = admin.list_topics(timeout=T).topics
    assert topic in topics and len(topics[topic].partitions) == 2, topics
    p = Producer(dict(conf, acks="all"))
    for i in range(N):
        p.produce(topic, value=f"v{i}".encode(), key=f"k{i % 4}".encode())
    assert p.flush(T) == 0, "records left unflushed"
    group = f"g-{uuid.uuid4()}"
    c = Consumer(dict(conf, **{"group.id": group, "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}))
    c.subscribe([topic])
    seen = set()
    deadline = time.time() + 60
    while len(seen) < N and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise RuntimeError(str(m.error()))
        seen.add(m.value())
    c.commit(asynchronous=False)
    committed = c.committed(c.assignment(), timeout=T)
    c.close()
    # A partition no record went to has no committed offset (-1001).
    assert sum(max(tp.offset, 0) for tp in committed) == N, committed
    return len(seen)


def roundtrip_kafka_python(conf, topic):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(request_timeout_ms=T * 1000, **conf)
    admin.create_topics([NewTopic(topic, 2, 1)], timeout_ms=T * 1000)
    assert topic in admin.list_topics(), admin.list_topics()
    admin.close()
    p = KafkaProducer(acks="all", **conf)
    for i in range(N):
        p.send(topic, value=f"v{i}".encode(), key=f"k{i % 4}".encode())
    p.flush(T)
    p.close()
    c = KafkaConsumer(topic, group_id=f"g-{uuid.uuid4()}", auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=T * 1000, **conf)
    seen = set()
    deadline = time.time() + 60
    while len(seen) < N and time.time() < deadline:
        for msgs in c.poll(timeout_ms=500).values():
            seen.update(m.value for m in msgs)
    c.commit()
    committed = sum(c.committed(tp) or 0 for tp in c.assignment())
    c.close()
    assert committed == N, committed
    return len(seen)


def login(lib, conf):
    try:
        if lib == "confluent":
            from confluent_kafka.admin import AdminClient

            errors = []
            a = AdminClient(dict(conf, error_cb=lambda e: errors.append(str(e))))
            try:
                a.list_topics(timeout=10)
            except Exception as e:  # noqa: BLE001 - report what the client says
                a.poll(1)
                return "error: " + " | ".join(errors + [str(e)])
            return "ok"
        from kafka import KafkaAdminClient

        a = KafkaAdminClient(request_timeout_ms=10000, **conf)
        a.list_topics()
        a.close()
        return "ok"
    except Exception as e:  # noqa: BLE001
        return f"error: {type(e).__name__}: {e}"


def main():
    global BOOTSTRAP
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    BOOTSTRAP, mode, lib, protocol, mechanism, user, password, ca, *rest = sys.argv[1:]
    make = confluent_conf if lib == "confluent" else kp_conf
    conf = make(protocol, mechanism, user, password, ca)
    if mode == "roundtrip":
        f = roundtrip_confluent if lib == "confluent" else roundtrip_kafka_python
        print(f"ok {f(conf, rest[0])}")
    elif mode == "login":
        print(login(lib, conf))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
