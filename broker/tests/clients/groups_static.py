"""Static membership: a consumer restarted with the same group.instance.id takes its place back
without a rebalance for the other member. Args: bootstrap topic."""
import sys
import threading

from confluent_kafka import Consumer

from groups_common import FAST, produce, wait_until

bootstrap, topic = sys.argv[1], sys.argv[2]
group = "static-group"
produce(bootstrap, topic, 0, 60)
events = {"c1": [], "c2": []}


def member(name, instance):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.instance.id": instance,
        "client.id": name,
        "partition.assignment.strategy": "range",
        **FAST,
        # The restart below must happen within one session.
        "session.timeout.ms": 20000,
        "max.poll.interval.ms": 30000,
    })
    c.subscribe(
        [topic],
        on_assign=lambda _c, ps: events[name].append(("assign", sorted(p.partition for p in ps))),
        on_revoke=lambda _c, ps: events[name].append(("revoke", sorted(p.partition for p in ps))),
    )
    return c


stop = threading.Event()
c1 = member("c1", "i1")


def poll_c1():
    while not stop.is_set():
        c1.poll(0.2)


t = threading.Thread(target=poll_c1, daemon=True)
t.start()
c2 = member("c2", "i2")


def stable():
    c2.poll(0.1)
    a1 = [e for e in events["c1"] if e[0] == "assign"]
    a2 = [e for e in events["c2"] if e[0] == "assign"]
    return a1 and a2 and a1[-1][1] and a2[-1][1] and len(a1[-1][1]) + len(a2[-1][1]) == 3


wait_until("both members assigned", stable)
c2_parts = [e for e in events["c2"] if e[0] == "assign"][-1][1]
c1_events_before = list(events["c1"])
c2_member_id = c2.memberid()
c2.close()  # a static member does not leave the group on close

events["c2"] = []
c2 = member("c2", "i2")
wait_until("restarted member assigned", lambda: c2.poll(0.1) is not None or any(e[0] == "assign" for e in events["c2"]))
new_parts = [e for e in events["c2"] if e[0] == "assign"][-1][1]
new_member_id = c2.memberid()
stop.set()
t.join(10)
assert new_parts == c2_parts, f"restarted member got {new_parts}, had {c2_parts}"
assert new_member_id != c2_member_id, "a new member id replaces the old one"
assert events["c1"] == c1_events_before, f"c1 saw a rebalance: {events['c1'][len(c1_events_before):]}"
c1.close()
c2.close()
print("ok", c2_parts, events)
