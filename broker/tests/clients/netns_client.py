"""Client side of the network-partition test (broker/tests/netns_partition.rs). The test runs
it inside a broker's network namespace with `ip netns exec`, so it reaches exactly the brokers
that namespace can reach.

usage:
  netns_client.py create BOOTSTRAP TOPIC REPLICAS [key=value ...]
      one partition with the explicit replica list REPLICAS (comma-separated node ids)
  netns_client.py metadata BOOTSTRAP TOPIC
      prints one JSON line: controller, brokers, and per partition of TOPIC (may be empty)
      leader/replicas/isr
  netns_client.py produce BOOTSTRAP TOPIC PREFIX ACKFILE STOPFILE
      an idempotent acks=all producer of PREFIX-0, PREFIX-1, ... (one key) until STOPFILE
      exists; appends "value unix-time" to ACKFILE for each acknowledgement as its delivery
      report arrives; then flushes and exits 1 if any record was not acknowledged
"""
import json
import os
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create(bootstrap, topic, replicas, *configs):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assignment = [[int(r) for r in replicas.split(",")]]
    config = dict(c.split("=", 1) for c in configs)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replica_assignment=assignment, config=config)],
        operation_timeout=30,
        request_timeout=30,
    )
    futures[topic].result(60)


def metadata(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        md = admin.list_topics(topic or None, timeout=5)
    except KafkaException as e:
        print(f"metadata failed: {e}", file=sys.stderr)
        sys.exit(2)
    t = md.topics.get(topic) if topic else None
    parts = []
    if t is not None and t.error is None:
        parts = [
            {"id": p.id, "leader": p.leader, "replicas": p.replicas, "isr": sorted(p.isrs)}
            for p in sorted(t.partitions.values(), key=lambda p: p.id)
        ]
    print(json.dumps({
        "controller": md.controller_id,
        "brokers": sorted(md.brokers),
        "partitions": parts,
    }))


def produce(bootstrap, topic, prefix, ackfile, stopfile):
    acked = open(ackfile, "a", buffering=1)
    failed = []

    def report(err, msg):
        if err is None:
            acked.write(f"{msg.value().decode()} {time.time():.6f}\n")
        else:
            failed.append(str(err))

    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 2,
        "message.timeout.ms": 120000,
        # A partition drops packets without a reset: give up on a silent connection after 3 s
        # rather than librdkafka's default 60 s (the idempotent producer holds back the
        # partition's later batches until its in-flight requests are resolved), so the
        # majority's first ack measures the failover more than this timeout.
        "socket.timeout.ms": 3000,
        "request.timeout.ms": 2500,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    })
    # Bounded: the test stops it long before; this is the backstop.
    deadline = time.time() + 240
    i = 0
    while not os.path.exists(stopfile) and time.time() < deadline:
        try:
            p.produce(topic, value=f"{prefix}-{i}".encode(), key=b"k", on_delivery=report)
            i += 1
        except BufferError:
            p.poll(0.05)
        if i % 20 == 0:
            p.poll(0)
            time.sleep(0.01)  # ~2000 records/s: a steady stream, not a flood
    remaining = p.flush(150)
    acked.close()
    print(json.dumps({"produced": i, "failed": len(failed), "remaining": remaining}))
    if failed or remaining:
        print(f"failed deliveries: {failed[:5]} remaining: {remaining}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    {"create": create, "metadata": metadata, "produce": produce}[sys.argv[1]](*sys.argv[2:])
