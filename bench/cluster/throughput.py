"""Cluster benchmark: acks=all produce throughput: N messages of SIZE bytes to TOPIC, idempotent, measured from the
first send to the last delivery report."""
import sys, time
from confluent_kafka import Producer
bootstrap, topic, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
              "linger.ms": 5, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000})
payload = b"x" * size
failed = [0]
def cb(err, msg):
    if err is not None:
        failed[0] += 1
# warm up metadata
p.produce(topic, payload, callback=cb); p.flush(30)
t0 = time.time()
for i in range(n):
    while True:
        try:
            p.produce(topic, payload, callback=cb); break
        except BufferError:
            p.poll(0.01)
    if i % 1000 == 0: p.poll(0)
p.flush(120)
dt = time.time() - t0
print(f"{topic}: {n} x {size} B in {dt:.2f} s = {n/dt:,.0f} msg/s, {n*size/dt/1e6:.1f} MB/s, failed={failed[0]}")
