"""AdminClient group APIs: list, describe, list/alter offsets, delete. Args: bootstrap topic."""
import sys

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from groups_common import FAST, produce, wait_until

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
produce(bootstrap, topic, 0, 30)

# An active member: the group is Stable with one member owning every partition.
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "admin-g", "enable.auto.commit": False, **FAST})
c.subscribe([topic])
wait_until("assignment", lambda: c.poll(0.1) is not None and bool(c.assignment()))
c.commit(offsets=[TopicPartition(topic, p, 5 + p, metadata=f"m{p}") for p in range(3)], asynchronous=False)
desc = admin.describe_consumer_groups(["admin-g"])["admin-g"].result(timeout=20)
assert desc.state == ConsumerGroupState.STABLE, desc.state
assert len(desc.members) == 1, desc.members
assert sorted(tp.partition for tp in desc.members[0].assignment.topic_partitions) == [0, 1, 2]
assert desc.partition_assignor == "range" or desc.partition_assignor, desc.partition_assignor
listed = admin.list_consumer_groups().result(timeout=20)
assert "admin-g" in [g.group_id for g in listed.valid], listed.valid
stable = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(timeout=20)
assert [g.group_id for g in stable.valid] == ["admin-g"], stable.valid

# Deleting a group with members is refused.
fut = admin.delete_consumer_groups(["admin-g"])["admin-g"]
try:
    fut.result(timeout=20)
    raise AssertionError("deleting a non-empty group succeeded")
except Exception as e:  # KafkaException(NON_EMPTY_GROUP)
    assert "NON_EMPTY_GROUP" in str(e) or "not empty" in str(e).lower(), e
c.close()
wait_until("group empty", lambda: admin.describe_consumer_groups(["admin-g"])["admin-g"].result(timeout=20).state == ConsumerGroupState.EMPTY)

req = ConsumerGroupTopicPartitions("admin-g", [TopicPartition(topic, p) for p in range(3)])
offs = admin.list_consumer_group_offsets([req])["admin-g"].result(timeout=20)
got = sorted((tp.partition, tp.offset, tp.metadata) for tp in offs.topic_partitions)
assert got == [(0, 5, "m0"), (1, 6, "m1"), (2, 7, "m2")], got
alter = ConsumerGroupTopicPartitions("admin-g", [TopicPartition(topic, 1, 2)])
admin.alter_consumer_group_offsets([alter])["admin-g"].result(timeout=20)
offs = admin.list_consumer_group_offsets([req])["admin-g"].result(timeout=20)
assert sorted((tp.partition, tp.offset) for tp in offs.topic_partitions) == [(0, 5), (1, 2), (2, 7)]

admin.delete_consumer_groups(["admin-g"])["admin-g"].result(timeout=20)
listed = admin.list_consumer_groups().result(timeout=20)
assert "admin-g" not in [g.group_id for g in listed.valid], listed.valid
offs = admin.list_consumer_group_offsets([req])["admin-g"].result(timeout=20)
assert all(tp.offset < 0 for tp in offs.topic_partitions), offs.topic_partitions
print("ok")
