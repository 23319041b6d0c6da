"""Shared helpers of the consumer-group client scripts (bounded loops, fast group settings)."""
import time

from confluent_kafka import Producer

# Small timeouts so that rebalances and expiries happen within a test's budget.
FAST = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "max.poll.interval.ms": 15000,
    "auto.offset.reset": "earliest",
    "topic.metadata.refresh.interval.ms": 2000,
}


def produce(bootstrap, topic, start, count):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, key=f"k{i}".encode(), value=str(i).encode())
    left = p.flush(30)
    assert left == 0, f"{left} messages not delivered"


def wait_until(what, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
