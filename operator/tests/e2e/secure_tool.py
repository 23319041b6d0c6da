"""Real-client checks of a secure cluster for the operator e2e (confluent-kafka, i.e. librdkafka).

Every command takes CONFIG, a JSON object of librdkafka settings (bootstrap.servers,
security.protocol, ssl.ca.location, sasl.*, ssl.certificate.location, ...), and prints one JSON
object on stdout. Every loop is bounded in time.

    secure_tool.py create CONFIG TOPIC PARTITIONS RF -> {"created": bool, "error": str|null}
    secure_tool.py view CONFIG TOPIC                 -> brokers, replicas and ISR per partition
    secure_tool.py produce CONFIG TOPIC STOP         -> idempotent acks=all records until STOP exists
    secure_tool.py roundtrip CONFIG TOPIC VALUE      -> produce VALUE and read it back
    secure_tool.py consume CONFIG TOPIC              -> every value in the topic
    secure_tool.py peer HOST PORT                    -> the leaf certificate the server presents (PEM)
"""
import json
import os
import socket
import ssl
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create(conf, topic, partitions, rf):
    admin = AdminClient(conf)
    fs = admin.create_topics([NewTopic(topic, int(partitions), int(rf))], request_timeout=30)
    try:
        fs[topic].result(60)
        return {"created": True, "error": None}
    except KafkaException as e:
        return {"created": False, "error": str(e)}


def view(conf, topic):
    md = AdminClient(conf).list_topics(timeout=15)
    out = {"cluster_id": md.cluster_id, "brokers": sorted(md.brokers), "replicas": {}, "isr": {}}
    t = md.topics.get(topic)
    if t is not None:
        for p, pm in t.partitions.items():
            out["replicas"][str(p)] = sorted(pm.replicas)
            out["isr"][str(p)] = sorted(pm.isrs)
    return out


def produce(conf, topic, stop_file):
    p = Producer(dict(conf, **{"acks": "all", "enable.idempotence": True,
                               "message.timeout.ms": 180000, "linger.ms": 5}))
    acked, failed = [], []

    def on_delivery(err, msg):
        if err is None:
            acked.append(msg.value().decode())
        else:
            failed.append(str(err))

    sent = 0
    deadline = time.time() + 900
    while not os.path.exists(stop_file) and time.time() < deadline:
        try:
            p.produce(topic, value=f"tls-{sent}".encode(), on_delivery=on_delivery)
            sent += 1
        except BufferError:
            pass
        p.poll(0.02)
    left = p.flush(90)
    return {"sent": sent, "acked": acked, "failed": failed[:20], "nfailed": len(failed), "unflushed": left}


def roundtrip(conf, topic, value):
    p = Producer(dict(conf, **{"acks": "all", "message.timeout.ms": 20000}))
    errors = []
    p.produce(topic, value=value.encode(), on_delivery=lambda err, _m: err and errors.append(str(err)))
    left = p.flush(30)
    if errors or left:
        return {"ok": False, "error": "; ".join(errors) or f"{left} unflushed"}
    got = consume(conf, topic, deadline_s=40, want=value)
    return {"ok": value in got["values"], "error": "; ".join(got["errors"]) or None}


def consume(conf, topic, deadline_s=120, want=None):
    c = Consumer(dict(conf, **{"group.id": f"e2e-check-{uuid.uuid4()}",
                               "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.subscribe([topic])
    values, errors = [], []
    deadline = time.time() + deadline_s
    idle_since = time.time()
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if values and time.time() - idle_since > 8:
                break
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                errors.append(str(m.error()))
            continue
        values.append(m.value().decode())
        idle_since = time.time()
        if want is not None and values[-1] == want:
            break
    c.close()
    return {"values": values, "errors": errors[:20]}


def peer(host, port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        with ctx.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    return {"pem": ssl.DER_cert_to_PEM_cert(der)}


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "peer":
        result = peer(*args)
    else:
        conf = json.loads(args[0])
        result = {"create": create, "view": view, "produce": produce, "roundtrip": roundtrip,
                  "consume": consume}[mode](conf, *args[1:])
    print(json.dumps(result))
