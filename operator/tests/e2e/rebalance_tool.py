"""Real-client helpers of the KafkaRebalance e2e (confluent-kafka, i.e. librdkafka).

    rebalance_tool.py create-assigned BOOTSTRAP TOPIC ASSIGNMENT -> creates TOPIC with explicit
        replica assignments, ASSIGNMENT like "0;0;0,1" (partitions split by ";", replicas by ",")
    rebalance_tool.py fill-bytes BOOTSTRAP TOPIC N SIZE -> N acks=all records of SIZE bytes each
        (data that takes a while to move at a low throttle); {"acked": count, "failed": [...]}
    rebalance_tool.py layout BOOTSTRAP          -> {topic: {partition: [replicas, leader first]}}
        and {"leaders": {topic: {partition: leader}}} for every non-internal topic

Each prints one JSON object on stdout.
"""
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create_assigned(bootstrap, topic, assignment):
    replicas = [[int(b) for b in part.split(",")] for part in assignment.split(";")]
    # The client must outlive the future (its destructor fails pending requests).
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # librdkafka wants the partition count with an explicit assignment (and no replication factor).
    new = NewTopic(topic, num_partitions=len(replicas), replica_assignment=replicas)
    fs = admin.create_topics([new], request_timeout=30)
    fs[topic].result(timeout=60)
    return {"created": topic, "assignment": replicas}


def fill_bytes(bootstrap, topic, n, size):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 60000})
    acked, failed = [0], []

    def on_delivery(err, _msg):
        if err is None:
            acked[0] += 1
        else:
            failed.append(str(err))

    pad = b"x" * int(size)
    for i in range(int(n)):
        p.produce(topic, key=str(i).encode(), value=pad, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(90)
    return {"acked": acked[0], "failed": failed[:20], "unflushed": left}


def layout(bootstrap):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
    out = {"replicas": {}, "leaders": {}}
    for name, t in md.topics.items():
        if name.startswith("__"):
            continue
        out["replicas"][name] = {str(p): list(pm.replicas) for p, pm in t.partitions.items()}
        out["leaders"][name] = {str(p): pm.leader for p, pm in t.partitions.items()}
    return out


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    modes = {"create-assigned": create_assigned, "fill-bytes": fill_bytes, "layout": layout}
    print(json.dumps(modes[mode](*args)))
