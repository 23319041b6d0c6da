"""Produces COUNT numbered records with acks=all and idempotence; appends each acknowledged
value to ACKFILE as soon as its delivery report arrives. Survives broker restarts by retrying.

usage: crash_producer.py BOOTSTRAP TOPIC COUNT ACKFILE
Extra librdkafka settings (TLS) may be given as JSON in $EDDY_CLIENT_CONFIG.
"""
import json
import os
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, count, ackfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
acked = open(ackfile, "a", buffering=1)
failed = []


def report(err, msg):
    if err is None:
        acked.write(msg.value().decode() + "\n")
    else:
        failed.append(str(err))


conf = {
    "bootstrap.servers": bootstrap,
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 2,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
}
conf.update(json.loads(os.environ.get("EDDY_CLIENT_CONFIG", "{}")))
p = Producer(conf)
deadline = time.time() + 110
for i in range(count):
    while True:
        try:
            p.produce(topic, value=str(i).encode(), key=b"k", on_delivery=report)
            break
        except BufferError:
            p.poll(0.05)
    if i % 100 == 0:
        p.poll(0)
        time.sleep(0.005)  # pace the stream so the kill lands mid-stream
remaining = p.flush(max(1, deadline - time.time()))
acked.close()
if failed or remaining:
    print(f"failed deliveries: {failed[:5]} remaining: {remaining}", file=sys.stderr)
    sys.exit(1)
