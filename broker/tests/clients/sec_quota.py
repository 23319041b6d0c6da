"""User quotas for SASL users, measured with confluent-kafka (broker/tests/security_clients.rs).

usage: sec_quota.py BOOTSTRAP WARMUP_S MEASURE_S   (a SASL_PLAINTEXT listener; SCRAM-SHA-512
users alice and bob, password "<user>-secret")

Two producers of user alice run side by side for warmup + measure seconds as fast as they can:
client.id `a1` (held by the user=alice quota) and client.id `capped` (held by the
(user=alice, client-id=capped) quota); their acknowledged bytes per second over the measure
window are reported. Meanwhile (during the measure window) bob produces for 5 s (at most
300 MB) and his rate is reported. Throttle events come from librdkafka's throttle callback.
Prints one JSON object; the Rust test checks the numbers."""
import json
import sys
import threading
import time

from confluent_kafka import Producer

bootstrap = sys.argv[1]
warmup, measure = float(sys.argv[2]), float(sys.argv[3])
VALUE = b"x" * 1024
DEADLINE = 10 * (warmup + measure) + 60  # bounds every wait


class Throttles:
    def __init__(self):
        self.count = 0
        self.max_ms = 0

    def __call__(self, event):
        if event.throttle_time > 0:
            self.count += 1
            self.max_ms = max(self.max_ms, int(event.throttle_time * 1000))


def produce(user, client_id, topic, seconds, max_bytes, acked, throttles):
    """Produces 1 KB records for `seconds`; appends (time, bytes) of each acknowledged one."""
    p = Producer({
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
        "client.id": client_id,
        "linger.ms": 5,
        # Small requests: a sampled-rate quota lets each request through whole, so the request
        # size is the granularity of the rate it holds.
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
    assert left == 0, f"{user}/{client_id}: {left} records not delivered"


def rate(events, start, end):
    return sum(n for t, n in events if start <= t < end) / (end - start)


def per_second(events, start, seconds):
    out = [0] * int(seconds)
    for t, n in events:
        i = int(t - start)
        if 0 <= i < len(out):
            out[i] += n
    return out


results = {}
threads = []
t0 = time.monotonic()
for client_id in ("a1", "capped"):
    acked, thr = [], Throttles()
    results[client_id] = (acked, thr)
    t = threading.Thread(target=produce, args=(
        "alice", client_id, f"uq-{client_id}", warmup + measure, 1 << 40, acked, thr))
    t.start()
    threads.append(t)
time.sleep(warmup)
bob_acked, bob_thr = [], Throttles()
bob_start = time.monotonic()
produce("bob", "b1", "uq-bob", 5, 300 << 20, bob_acked, bob_thr)
bob_end = max(t for t, _ in bob_acked)
for t in threads:
    t.join(DEADLINE)
    assert not t.is_alive(), "an alice producer did not finish"
out = {}
for client_id, (acked, thr) in results.items():
    out[client_id] = {
        "rate": rate(acked, t0 + warmup, t0 + warmup + measure),
        "throttles": thr.count,
        "max_throttle_ms": thr.max_ms,
        "per_second": per_second(acked, t0, warmup + measure),
    }
out["bob"] = {
    "rate": sum(n for _, n in bob_acked) / (bob_end - bob_start),
    "throttles": bob_thr.count,
}
print(json.dumps(out))
