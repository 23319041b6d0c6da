"""SASL clients for broker/tests/sasl.rs: confluent-kafka (librdkafka) and kafka-python over
SASL_PLAINTEXT.

usage: sasl_clients.py BOOTSTRAP MODE ARGS...
  roundtrip LIB MECHANISM USER PASSWORD TOPIC  produce 20 and consume them in a group; prints "ok 20"
  login LIB MECHANISM USER PASSWORD            metadata only; prints "ok" or "error: <message>"
  create ADMIN_USER ADMIN_PASSWORD USER PASSWORD  AdminClient alter + describe; prints the description
                                               (ADMIN_USER "-": BOOTSTRAP is a PLAINTEXT listener)
  stream USER PASSWORD TOPIC SECONDS           confluent producer sending for SECONDS (re-authentication); prints "ok N"
LIB is confluent or kafka-python.
"""
import logging
import sys
import time
import uuid


def confluent_conf(bootstrap, mechanism, user, password):
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def kp_conf(bootstrap, mechanism, user, password):
    return dict(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=user,
        sasl_plain_password=password,
    )


def roundtrip_confluent(bootstrap, mechanism, user, password, topic):
    from confluent_kafka import Consumer, Producer

    conf = confluent_conf(bootstrap, mechanism, user, password)
    p = Producer(conf)
    for i in range(20):
        p.produce(topic, value=f"v{i}".encode(), key=b"k")
    assert p.flush(30) == 0, "messages left unflushed"
    c = Consumer(dict(conf, **{"group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    seen = set()
    deadline = time.time() + 60
    while len(seen) < 20 and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            raise RuntimeError(str(m.error()))
        seen.add(m.value())
    c.commit(asynchronous=False)
    c.close()
    return len(seen)


def roundtrip_kafka_python(bootstrap, mechanism, user, password, topic):
    from kafka import KafkaConsumer, KafkaProducer

    conf = kp_conf(bootstrap, mechanism, user, password)
    p = KafkaProducer(**conf)
    for i in range(20):
        p.send(topic, value=f"v{i}".encode(), key=b"k")
    p.flush(30)
    p.close()
    c = KafkaConsumer(topic, group_id=f"g-{uuid.uuid4()}", auto_offset_reset="earliest",
                      consumer_timeout_ms=30000, **conf)
    seen = set()
    for m in c:
        seen.add(m.value)
        if len(seen) == 20:
            break
    c.commit()
    c.close()
    return len(seen)


def login(bootstrap, lib, mechanism, user, password):
    try:
        if lib == "confluent":
            from confluent_kafka.admin import AdminClient

            errors = []
            conf = confluent_conf(bootstrap, mechanism, user, password)
            conf["error_cb"] = lambda e: errors.append(str(e))
            a = AdminClient(conf)
            try:
                a.list_topics(timeout=10)
            except Exception as e:  # noqa: BLE001 - report what the client says
                a.poll(1)
                return "error: " + " | ".join(errors + [str(e)])
            return "ok"
        from kafka import KafkaAdminClient

        a = KafkaAdminClient(request_timeout_ms=10000, **kp_conf(bootstrap, mechanism, user, password))
        a.list_topics()
        a.close()
        return "ok"
    except Exception as e:  # noqa: BLE001
        return f"error: {type(e).__name__}: {e}"


def create(bootstrap, admin_user, admin_password, user, password):
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)

    if admin_user == "-":  # a PLAINTEXT listener
        a = AdminClient({"bootstrap.servers": bootstrap})
    else:
        a = AdminClient(confluent_conf(bootstrap, "SCRAM-SHA-512", admin_user, admin_password))
    ups = [
        UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()),
        UserScramCredentialUpsertion(user + "-256", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), password.encode()),
    ]
    for name, fut in a.alter_user_scram_credentials(ups).items():
        fut.result(timeout=30)
    bad = UserScramCredentialUpsertion("weak", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), b"x")
    try:
        a.alter_user_scram_credentials([bad])["weak"].result(timeout=30)
        raise RuntimeError("100 iterations were accepted")
    except Exception as e:  # noqa: BLE001
        if "UNACCEPTABLE_CREDENTIAL" not in str(e) and "acceptab" not in str(e).lower():
            raise
    described = a.describe_user_scram_credentials([user, user + "-256"])
    parts = []
    for name in sorted(described):
        for info in described[name].result(timeout=30).scram_credential_infos:
            parts.append(f"{name}:{info.mechanism.name}:{info.iterations}")
    try:
        a.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=30)
        parts.append("nobody:found")
    except Exception as e:  # noqa: BLE001
        parts.append("nobody:" + ("RESOURCE_NOT_FOUND" if "RESOURCE_NOT_FOUND" in str(e) or "nonexistent" in str(e) else str(e)))
    return " ".join(parts)


def stream(bootstrap, user, password, topic, seconds):
    from confluent_kafka import Producer

    p = Producer(confluent_conf(bootstrap, "SCRAM-SHA-512", user, password))
    n = 0
    errors = []
    end = time.time() + seconds
    while time.time() < end:
        p.produce(topic, value=str(n).encode(), on_delivery=lambda err, msg: err and errors.append(str(err)))
        n += 1
        p.flush(10)
        time.sleep(0.1)
    assert p.flush(30) == 0
    if errors:
        raise RuntimeError("delivery errors: " + "; ".join(errors[:3]))
    return n


def main():
    # Client libraries report authentication failures in their logs (stderr).
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    bootstrap, mode, *args = sys.argv[1:]
    if mode == "roundtrip":
        lib, mechanism, user, password, topic = args
        f = roundtrip_confluent if lib == "confluent" else roundtrip_kafka_python
        print(f"ok {f(bootstrap, mechanism, user, password, topic)}")
    elif mode == "login":
        print(login(bootstrap, *args))
    elif mode == "create":
        print(create(bootstrap, *args))
    elif mode == "stream":
        user, password, topic, seconds = args
        print(f"ok {stream(bootstrap, user, password, topic, float(seconds))}")
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
