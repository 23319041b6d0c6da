"""A group's online migration between the consumer-group protocols (KIP-848), with confluent-kafka:
two classic consumers (client-side assignor `assignor`) consume; a `group.protocol=consumer`
member joins and the group becomes a consumer group whose classic members the broker assigns;
a classic member leaves; the consumer-protocol member leaves and the group goes back to the
classic protocol. Messages flow throughout and each must be consumed-and-committed exactly
once. Prints the group types ListGroups showed in each phase.
Args: bootstrap topic assignor"""
import json
import sys

from confluent_kafka.admin import AdminClient

from groups_common import FAST, CommitLog, CommittingMember, check_committed_at_end, produce, wait_until

bootstrap, topic, assignor = sys.argv[1], sys.argv[2], sys.argv[3]
group = f"migration-{assignor}"
classic = {"group.protocol": "classic", "partition.assignment.strategy": assignor, **FAST}
modern = {"group.protocol": "consumer"}
log = CommitLog()
admin = AdminClient({"bootstrap.servers": bootstrap})


def member(name, config):
    m = CommittingMember(name, bootstrap, group, topic, config, log.on_commit)
    m.start()
    return m


def group_type():
    listed = admin.list_consumer_groups(request_timeout=10).result()
    for g in listed.valid:
        if g.group_id == group:
            return str(getattr(g, "type", "unknown")).split(".")[-1].lower()
    return "absent"


def stop(m):
    m.stop.set()
    m.join(30)
    assert not m.is_alive(), f"{m.name_} did not stop"
    assert m.error is None, f"{m.name_}: {m.error}"


types = {}
members = {"c1": member("c1", classic), "c2": member("c2", classic)}
produce(bootstrap, topic, 0, 300)
wait_until("both classic members assigned", lambda: all(m.assigned for m in members.values()))
wait_until("the first batch under way", lambda: log.count() >= 100)
types["classic"] = group_type()

# Upgrade: a consumer-protocol member joins the classic group.
members["c3"] = member("c3", modern)
wait_until("the consumer-protocol member assigned", lambda: members["c3"].assigned, timeout=90)
produce(bootstrap, topic, 300, 300)
wait_until("c3 consuming", lambda: log.by("c3") > 0, timeout=90)
types["mixed"] = group_type()
wait_until("half of the second batch", lambda: log.count() >= 450, timeout=90)

# A classic member leaves the consumer group.
stop(members["c2"])
wait_until("the first two batches", lambda: log.count() >= 600, timeout=90)

# Downgrade: the last consumer-protocol member leaves.
stop(members["c3"])
produce(bootstrap, topic, 600, 300)
log.wait_all(900, members.values(), timeout=120)
types["after"] = group_type()
stop(members["c1"])
log.check_exactly_once(900)
assert check_committed_at_end(bootstrap, group, topic) == 900
counts = {n: log.by(n) for n in members}
assert counts["c3"] > 0 and counts["c2"] > 0, counts
print(json.dumps({"types": types, "counts": counts, "assignor": assignor,
                  "commit_failures": [f for m in members.values() for f in m.failures][:20]}))
