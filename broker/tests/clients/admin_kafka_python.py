"""kafka-python KafkaAdminClient against the broker: create, describe_configs, alter_configs,
create_partitions and delete. Exits non-zero on any mismatch."""
import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)

admin.create_topics([NewTopic("kp", num_partitions=2, replication_factor=1,
                              topic_configs={"retention.bytes": "1048576"})])
try:
    admin.create_topics([NewTopic("kp", num_partitions=1, replication_factor=1)])
    raise AssertionError("duplicate create succeeded")
except TopicAlreadyExistsError:
    pass
admin.create_topics([NewTopic("kp-dry", 1, 1)], validate_only=True)
assert "kp-dry" not in admin.list_topics()
assert "kp" in admin.list_topics()


def configs(name, rtype=ConfigResourceType.TOPIC):
    resp = admin.describe_configs([ConfigResource(rtype, name)], include_synonyms=True)
    resp = resp[0] if isinstance(resp, list) else resp
    (err, _msg, _rt, _rn, entries) = resp.resources[0]
    assert err == 0, resp
    # v1+: (name, value, read_only, config_source, is_sensitive, synonyms)
    return {e[0]: e for e in entries}


cfg = configs("kp")
assert cfg["retention.bytes"][1] == "1048576" and cfg["retention.bytes"][3] == 1, cfg["retention.bytes"]
assert cfg["cleanup.policy"][1] == "delete" and cfg["cleanup.policy"][3] == 5
synonyms = [s[0] for s in cfg["retention.bytes"][5]]
assert synonyms[0] == "retention.bytes" and "log.retention.bytes" in synonyms, synonyms

admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp",
                                    configs={"retention.ms": "60000"})])
cfg = configs("kp")
assert cfg["retention.ms"][1] == "60000"
assert cfg["retention.bytes"][3] == 5, "legacy alter must replace the whole override set"

broker_cfg = configs("0", ConfigResourceType.BROKER)
assert broker_cfg["auto.create.topics.enable"][1] == "true"

admin.create_partitions({"kp": NewPartitions(total_count=3)})
admin.delete_topics(["kp"])
assert "kp" not in admin.list_topics()
admin.close()
print("ok")
