"""confluent-kafka AdminClient against a broker cluster: incremental and legacy config changes
on topics and on brokers (written to the metadata log, so any broker describes them),
validate_only, create_partitions with placement and with explicit assignments.
Exits non-zero on any mismatch.

usage: cluster_admin_confluent.py BOOTSTRAP   (topic "ca", 1 partition, RF=2, must exist)
"""
import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewPartitions)

bootstrap = sys.argv[1]
T = 30
admin = AdminClient({"bootstrap.servers": bootstrap})


def wait(futures):
    return {k: f.result(timeout=T) for k, f in futures.items()}


def eventually(what, check):
    """Brokers apply the metadata log a moment apart: poll (bounded) until `check` holds."""
    deadline = time.time() + T
    while True:
        got = check()
        if got is True:
            return
        if time.time() > deadline:
            raise AssertionError(f"{what}: {got}")
        time.sleep(0.1)


def expect_error(fut, code_name):
    try:
        fut.result(timeout=T)
    except KafkaException as e:
        err = e.args[0]
        assert err.name() == code_name, f"expected {code_name}, got {err.name()}: {err.str()}"
        return err
    raise AssertionError(f"expected {code_name}, got success")


# Topic "ca" (1 partition, RF=2) exists and every broker knows it (the caller made sure).
res = ConfigResource(ConfigResource.Type.TOPIC, "ca")


def topic_cfg():
    return wait(admin.describe_configs([res]))[res]


# incremental: SET and APPEND on a list; validate_only changes nothing
inc = ConfigResource(ConfigResource.Type.TOPIC, "ca", incremental_configs=[
    ConfigEntry("retention.ms", "4321", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("follower.replication.throttled.replicas", "0:2",
                incremental_operation=AlterConfigOpType.APPEND),
])
wait(admin.incremental_alter_configs([inc]))
inc2 = ConfigResource(ConfigResource.Type.TOPIC, "ca", incremental_configs=[
    ConfigEntry("follower.replication.throttled.replicas", "1:0",
                incremental_operation=AlterConfigOpType.APPEND)])
wait(admin.incremental_alter_configs([inc2]))
eventually("topic configs", lambda: True if (
    topic_cfg()["retention.ms"].value == "4321"
    and topic_cfg()["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    and topic_cfg()["follower.replication.throttled.replicas"].value == "0:2,1:0")
    else {k: topic_cfg()[k].value for k in ("retention.ms", "follower.replication.throttled.replicas")})
dry = ConfigResource(ConfigResource.Type.TOPIC, "ca", incremental_configs=[
    ConfigEntry("segment.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
wait(admin.incremental_alter_configs([dry], validate_only=True))
assert topic_cfg()["segment.ms"].is_default, "validate_only applied"
bad = ConfigResource(ConfigResource.Type.TOPIC, "ca", incremental_configs=[
    ConfigEntry("leader.replication.throttled.replicas", "0-1",
                incremental_operation=AlterConfigOpType.SET)])
expect_error(admin.incremental_alter_configs([bad])[bad], "INVALID_CONFIG")

# legacy alter replaces the whole override set
legacy = ConfigResource(ConfigResource.Type.TOPIC, "ca", set_config={"segment.ms": "3600000"})
wait(admin.alter_configs([legacy]))
eventually("legacy alter", lambda: True if (
    topic_cfg()["segment.ms"].value == "3600000" and topic_cfg()["retention.ms"].is_default)
    else topic_cfg()["segment.ms"].value)

# broker dynamic configs: each broker's own entry, described by that broker
for b in ("0", "1", "2"):
    bres = ConfigResource(ConfigResource.Type.BROKER, b, incremental_configs=[
        ConfigEntry("leader.replication.throttled.rate", str(1000 + int(b)),
                    incremental_operation=AlterConfigOpType.SET)])
    wait(admin.incremental_alter_configs([bres]))
for b in ("0", "1", "2"):
    bres = ConfigResource(ConfigResource.Type.BROKER, b)
    eventually(f"broker {b} rate", lambda: True if (
        wait(admin.describe_configs([bres]))[bres]["leader.replication.throttled.rate"].value
        == str(1000 + int(b))) else "not yet")
bad = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
    ConfigEntry("follower.replication.throttled.rate", "-5",
                incremental_operation=AlterConfigOpType.SET)])
expect_error(admin.incremental_alter_configs([bad])[bad], "INVALID_CONFIG")

# create_partitions: placement, validate_only, explicit assignments, shrinking refused
wait(admin.create_partitions([NewPartitions("ca", 2)]))
wait(admin.create_partitions([NewPartitions("ca", 6)], validate_only=True))
wait(admin.create_partitions([NewPartitions("ca", 4, replica_assignment=[[1, 2], [2, 0]])]))
expect_error(admin.create_partitions([NewPartitions("ca", 3)])["ca"], "INVALID_PARTITIONS")
expect_error(admin.create_partitions([NewPartitions("ca", 5, replica_assignment=[[1]])])["ca"],
             "INVALID_REPLICA_ASSIGNMENT")


def parts():
    return admin.list_topics(timeout=T).topics["ca"].partitions


# Each list_topics may ask another broker, which may apply the metadata log a moment later:
# check the very answer that showed four partitions.
seen = {}


def four_partitions():
    seen["p"] = parts()
    return True if len(seen["p"]) == 4 else len(seen["p"])


eventually("four partitions", four_partitions)
p = seen["p"]
assert p[2].replicas == [1, 2] and p[3].replicas == [2, 0], (p[2].replicas, p[3].replicas)
assert all(len(p[i].replicas) == 2 for i in range(4)), [p[i].replicas for i in range(4)]
print("ok")
