"""A client pinned to Kafka 2.1 (kafka-python with api_version=(2, 1, 0): no ApiVersions
negotiation, it sends the request versions it would send to a 2.1 broker). Produce with keys
(acks=all), consume in a group and commit, read the committed offsets back, look offsets up by
time and the end offsets. Args: bootstrap topic."""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
V = (2, 1, 0)
N = 100

p = KafkaProducer(bootstrap_servers=bootstrap, api_version=V, acks="all", linger_ms=5)
t0 = int(time.time() * 1000)
futures = [p.send(topic, key=f"k{i}".encode(), value=str(i).encode(), partition=i % 2,
                  timestamp_ms=t0 + i) for i in range(N)]
p.flush(30)
for f in futures:
    f.get(timeout=30)
p.close()

c = KafkaConsumer(topic, bootstrap_servers=bootstrap, api_version=V, group_id="old-client",
                  auto_offset_reset="earliest", enable_auto_commit=False,
                  session_timeout_ms=6000, heartbeat_interval_ms=500,
                  consumer_timeout_ms=20000)
seen = {}
for m in c:
    seen[int(m.value)] = m.key.decode()
    if len(seen) >= N:
        break
c.commit()
assert sorted(seen) == list(range(N)), f"got {len(seen)} of {N}"
assert all(seen[i] == f"k{i}" for i in range(N)), "keys survived"
parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
committed = {tp.partition: c.committed(tp) for tp in parts}
assert committed == {0: N // 2, 1: N // 2}, committed
end = c.end_offsets(parts)
assert {tp.partition: o for tp, o in end.items()} == {0: N // 2, 1: N // 2}, end
by_time = c.offsets_for_times({parts[1]: t0 + 51})
assert by_time[parts[1]].offset == 25, by_time  # record 51 is the 26th on partition 1
c.close()
print("ok", V)
