"""confluent-kafka AdminClient against the broker: create/delete/list topics, describe configs
with sources and synonyms, incremental and legacy alter, create_partitions, delete_records,
describe_cluster, and offsets_for_times through a consumer. Exits non-zero on any mismatch."""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewPartitions, NewTopic)

bootstrap = sys.argv[1]
T = 10
admin = AdminClient({"bootstrap.servers": bootstrap})


def wait(futures):
    return {k: f.result(timeout=T) for k, f in futures.items()}


def expect_error(fut, code_name):
    try:
        fut.result(timeout=T)
    except KafkaException as e:
        err = e.args[0]
        assert err.name() == code_name, f"expected {code_name}, got {err.name()}: {err.str()}"
        return err
    raise AssertionError(f"expected {code_name}, got success")


# create: explicit counts, defaults (-1), configs, validate_only, bad config, bad assignment
wait(admin.create_topics([
    NewTopic("a1", num_partitions=3, replication_factor=1, config={"retention.ms": "123456"}),
    NewTopic("a2"),
]))
wait(admin.create_topics([NewTopic("dry", 2, 1)], validate_only=True))
expect_error(admin.create_topics([NewTopic("bad", 1, 1, config={"retention.ms": "soon"})])["bad"],
             "INVALID_CONFIG")
expect_error(admin.create_topics([NewTopic("bad2", num_partitions=2, replica_assignment=[[0], [5]])])["bad2"],
             "INVALID_REPLICA_ASSIGNMENT")
wait(admin.create_topics([NewTopic("assigned", num_partitions=2, replica_assignment=[[0], [0]])]))
expect_error(admin.create_topics([NewTopic("a1", 1, 1)])["a1"], "TOPIC_ALREADY_EXISTS")
expect_error(admin.create_topics([NewTopic("rf3", 1, 3)])["rf3"], "INVALID_REPLICATION_FACTOR")

md = admin.list_topics(timeout=T)
assert len(md.topics["a1"].partitions) == 3, md.topics["a1"].partitions
assert len(md.topics["a2"].partitions) == 1
assert len(md.topics["assigned"].partitions) == 2
assert "dry" not in md.topics, "validate_only created the topic"

# describe configs: override, defaults, synonyms in Kafka's order
res = ConfigResource(ConfigResource.Type.TOPIC, "a1")
cfg = wait(admin.describe_configs([res]))[res]
r = cfg["retention.ms"]
assert r.value == "123456" and r.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, (r.value, r.source)
syn = [(s.name, s.source) for s in r.synonyms.values()] if isinstance(r.synonyms, dict) else \
    [(s.name, s.source) for s in r.synonyms]
assert syn[0] == ("retention.ms", ConfigSource.DYNAMIC_TOPIC_CONFIG.value), syn
assert ("log.retention.ms", ConfigSource.DEFAULT_CONFIG.value) in syn, syn
seg = cfg["segment.bytes"]
assert seg.is_default and seg.source == ConfigSource.DEFAULT_CONFIG.value
assert cfg["cleanup.policy"].value == "delete"
expect_error(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "nope")])[
    ConfigResource(ConfigResource.Type.TOPIC, "nope")], "UNKNOWN_TOPIC_OR_PART")

bres = ConfigResource(ConfigResource.Type.BROKER, "0")
bcfg = wait(admin.describe_configs([bres]))[bres]
assert bcfg["num.partitions"].value == "1", bcfg["num.partitions"]
assert bcfg["broker.rack"].is_read_only
assert bcfg["log.retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value

# incremental alter: set, delete, append on a list; validate_only; static key refused
inc = ConfigResource(ConfigResource.Type.TOPIC, "a1", incremental_configs=[
    ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ConfigEntry("max.message.bytes", "200000", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
])
wait(admin.incremental_alter_configs([inc]))
cfg = wait(admin.describe_configs([res]))[res]
assert cfg["retention.ms"].is_default, cfg["retention.ms"]
assert cfg["max.message.bytes"].value == "200000"
assert cfg["cleanup.policy"].value == "delete,compact", cfg["cleanup.policy"].value
dry = ConfigResource(ConfigResource.Type.TOPIC, "a1", incremental_configs=[
    ConfigEntry("segment.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
wait(admin.incremental_alter_configs([dry], validate_only=True))
assert wait(admin.describe_configs([res]))[res]["segment.ms"].is_default, "validate_only applied"
static = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
    ConfigEntry("broker.rack", "r1", incremental_operation=AlterConfigOpType.SET)])
err = expect_error(admin.incremental_alter_configs([static])[static], "INVALID_REQUEST")
assert "static" in err.str(), err.str()
dyn = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
    ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
wait(admin.incremental_alter_configs([dyn]))
cfg = wait(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "a2")]))
r = list(cfg.values())[0]["retention.ms"]
assert r.value == "86400000" and r.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value, (r.value, r.source)

# legacy alter replaces the whole override set
legacy = ConfigResource(ConfigResource.Type.TOPIC, "a1", set_config={"segment.ms": "3600000"})
wait(admin.alter_configs([legacy]))
cfg = wait(admin.describe_configs([res]))[res]
assert cfg["segment.ms"].value == "3600000"
assert cfg["max.message.bytes"].is_default, "alter_configs kept an override it should replace"

# partitions: grow, validate_only, shrink refused
wait(admin.create_partitions([NewPartitions("a2", 4)]))
wait(admin.create_partitions([NewPartitions("a2", 6)], validate_only=True))
expect_error(admin.create_partitions([NewPartitions("a2", 2)])["a2"], "INVALID_PARTITIONS")
assert len(admin.list_topics(timeout=T).topics["a2"].partitions) == 4

# delete records and offsets_for_times
p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
base = 1_700_000_000_000
for i in range(10):
    p.produce("a2", value=b"v%d" % i, partition=0, timestamp=base + i * 1000)
    p.flush(T)  # one batch per record so timestamps map to distinct batches
assert p.flush(T) == 0
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "oft", "enable.auto.commit": False})
found = c.offsets_for_times([TopicPartition("a2", 0, base + 4500)], timeout=T)
assert found[0].offset == 5, found
found = c.offsets_for_times([TopicPartition("a2", 0, base + 99_000)], timeout=T)
assert found[0].offset == -1, found
if hasattr(admin, "delete_records"):
    out = wait(admin.delete_records([TopicPartition("a2", 0, 3)]))
    low = list(out.values())[0]
    assert low.low_watermark == 3, low
    lo, hi = c.get_watermark_offsets(TopicPartition("a2", 0), timeout=T)
    assert (lo, hi) == (3, 10), (lo, hi)
c.close()

# describe cluster
if hasattr(admin, "describe_cluster"):
    cl = admin.describe_cluster(request_timeout=T).result(timeout=T)
    assert cl.controller.id == 0 and len(cl.nodes) == 1, cl
    assert cl.nodes[0].port == int(bootstrap.rsplit(":", 1)[1]), cl.nodes[0]
    assert cl.cluster_id

# delete
wait(admin.delete_topics(["a1", "assigned"], operation_timeout=T))
expect_error(admin.delete_topics(["a1"])["a1"], "UNKNOWN_TOPIC_OR_PART")
deadline = time.time() + T
while time.time() < deadline and "a1" in admin.list_topics(timeout=T).topics:
    time.sleep(0.05)
assert "a1" not in admin.list_topics(timeout=T).topics
print("ok")
