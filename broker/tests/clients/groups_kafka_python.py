"""kafka-python consumers in one group split a topic; every message is committed exactly once.
Args: bootstrap topic."""
import sys
import threading
import time

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from groups_common import produce, wait_until

bootstrap, topic = sys.argv[1], sys.argv[2]
produce(bootstrap, topic, 0, 200)
seen = {}
dups = []
lock = threading.Lock()
stop = threading.Event()
errors = []


def run(name):
    try:
        c = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id="kp-group",
            client_id=name,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            max_poll_interval_ms=15000,
        )
        while not stop.is_set():
            batch = c.poll(timeout_ms=200)
            if not batch:
                continue
            try:
                c.commit()
            except KafkaError:
                # Lost partitions in a rebalance: their next owner consumes them again.
                continue
            for _tp, msgs in batch.items():
                for m in msgs:
                    with lock:
                        v = int(m.value)
                        if v in seen:
                            dups.append((v, seen[v], name))
                        seen[v] = name
        c.close()
    except Exception as e:
        errors.append(e)


threads = [threading.Thread(target=run, args=(f"kp{i}",), daemon=True) for i in range(2)]
for t in threads:
    t.start()
    time.sleep(0.5)
wait_until("all messages", lambda: len(seen) >= 200 or errors, timeout=90)
stop.set()
for t in threads:
    t.join(30)
assert not errors, errors
assert not dups, dups[:10]
assert sorted(seen) == list(range(200))
print("ok", {n: sum(1 for v in seen.values() if v == n) for n in ("kp0", "kp1")})
