"""Client quotas measured with confluent-kafka (librdkafka) producers and consumers.

produce <bootstrap> <warmup_s> <measure_s>: a producer with client.id `slow` produces as fast as
it can for warmup + measure seconds; its acknowledged bytes per second over the measure window
are reported. Meanwhile (during the measure window) a producer with client.id `fast` produces
for 5 s (at most 300 MB), and its rate is reported. Throttle events come from librdkafka's
throttle callback.

consume <bootstrap> <warmup_s> <measure_s>: fills a topic, then a consumer with client.id
`slowc` reads it from the start (its bytes per second over the measure window are reported)
while a consumer with client.id `fastc` reads the whole topic at once (its rate reported).

Prints one JSON object; the Rust test (broker/tests/quota.rs) checks the numbers."""
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer

bootstrap, mode = sys.argv[1], sys.argv[2]
warmup, measure = float(sys.argv[3]), float(sys.argv[4])
VALUE = b"x" * 1024
DEADLINE = 10 * (warmup + measure) + 60  # bounds every loop


class Throttles:
    def __init__(self):
        self.count = 0
        self.max_ms = 0

    def __call__(self, event):
        self.count += 1
        self.max_ms = max(self.max_ms, int(event.throttle_time * 1000))


def produce(client_id, topic, seconds, max_bytes, acked, throttles):
    """Produces 1 KB records for `seconds`; appends (time, bytes) of each acknowledged one."""
    p = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "linger.ms": 5,
        # Small requests: a sampled-rate quota lets each request through whole, so the
        # request size is the granularity of the rate it holds.
        "batch.size": 65536,
        "queue.buffering.max.kbytes": 4096,
        "throttle_cb": throttles,
    })

    def delivered(err, msg):
        if err is None:
            acked.append((time.monotonic(), len(msg.value())))

    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end and sent < max_bytes:
        try:
            p.produce(topic, VALUE, callback=delivered)
            sent += len(VALUE)
            p.poll(0)
        except BufferError:
            p.poll(0.05)
    left = p.flush(30)
    assert left == 0, f"{client_id}: {left} records not delivered"


def rate(events, start, end):
    return sum(n for t, n in events if start <= t < end) / (end - start)


def per_second(events, start, seconds):
    """Bytes in each second from `start` (the staircase a sampled-rate quota draws)."""
    out = [0] * int(seconds)
    for t, n in events:
        i = int(t - start)
        if 0 <= i < len(out):
            out[i] += n
    return out


def run_produce():
    slow_acked, fast_acked = [], []
    slow_thr, fast_thr = Throttles(), Throttles()
    t0 = time.monotonic()
    slow = threading.Thread(target=produce, args=(
        "slow", "quota-slow", warmup + measure, 1 << 40, slow_acked, slow_thr))
    slow.start()
    time.sleep(warmup)
    fast_start = time.monotonic()
    produce("fast", "quota-fast", 5, 300 << 20, fast_acked, fast_thr)
    fast_end = max(t for t, _ in fast_acked)
    slow.join(DEADLINE)
    assert not slow.is_alive(), "slow producer did not finish"
    print(json.dumps({
        "slow_rate": rate(slow_acked, t0 + warmup, t0 + warmup + measure),
        "slow_throttles": slow_thr.count,
        "slow_max_throttle_ms": slow_thr.max_ms,
        "slow_per_second": per_second(slow_acked, t0, warmup + measure),
        "fast_rate": sum(n for _, n in fast_acked) / (fast_end - fast_start),
        "fast_throttles": fast_thr.count,
    }))


def consume(client_id, group, topic, seconds, total, events, throttles):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "queued.max.messages.kbytes": 2048,
        "throttle_cb": throttles,
    })
    c.subscribe([topic])
    got = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end and got < total:
            for m in c.consume(num_messages=500, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                got += len(m.value())
                events.append((time.monotonic(), len(m.value())))
    finally:
        c.close()


def run_consume():
    topic = "quota-consume"
    total = int((warmup + measure + 15) * 1.2 * (1 << 20))
    produce("filler", topic, DEADLINE, total, [], Throttles())
    slow_events, fast_events = [], []
    slow_thr, fast_thr = Throttles(), Throttles()
    t0 = time.monotonic()
    slow = threading.Thread(target=consume, args=(
        "slowc", "g-slow", topic, warmup + measure, total, slow_events, slow_thr))
    slow.start()
    fast_start = time.monotonic()
    consume("fastc", "g-fast", topic, DEADLINE, total, fast_events, fast_thr)
    fast_bytes = sum(n for _, n in fast_events)
    assert fast_bytes >= total, f"fast consumer read {fast_bytes} of {total}"
    fast_end = max(t for t, _ in fast_events)
    slow.join(DEADLINE)
    assert not slow.is_alive(), "slow consumer did not finish"
    print(json.dumps({
        "slow_rate": rate(slow_events, t0 + warmup, t0 + warmup + measure),
        "slow_throttles": slow_thr.count,
        "slow_max_throttle_ms": slow_thr.max_ms,
        "slow_per_second": per_second(slow_events, t0, warmup + measure),
        "fast_rate": fast_bytes / (fast_end - fast_start),
        "fast_throttles": fast_thr.count,
    }))


{"produce": run_produce, "consume": run_consume}[mode]()
