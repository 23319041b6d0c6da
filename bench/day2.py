"""Clients of bench/day2.sh (confluent-kafka, i.e. librdkafka). Not a test: prints numbers.

    day2.py fill BOOTSTRAP TOPIC MB          -> MB of 1 KiB acks=all records, as fast as they go;
                                                {"acked", "failed", "seconds"}
    day2.py probe BOOTSTRAP TOPIC RATE OUT STOP
                                             -> an open-loop acks=all idempotent producer: RATE
                                                records/s of 1 KiB, each sent at its intended time;
                                                one line "intended_unix_s latency_s ok|error" per
                                                delivery report in OUT, until STOP exists (at most
                                                two hours)
    day2.py window OUT T0 T1                 -> publish latency of the records intended in
                                                [T0, T1): {"count", "failed", "p50_ms", "p99_ms",
                                                "p999_ms", "max_ms"}

Latency is measured from the intended send time, so a stalled broker shows up as latency rather
than as a lower offered rate (no coordinated omission).
"""
import json
import os
import sys
import time

from confluent_kafka import Producer


def fill(bootstrap, topic, mb):
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1048576,
            "message.timeout.ms": 600000,
            "queue.buffering.max.kbytes": 262144,
        }
    )
    counts = {"acked": 0, "failed": 0}

    def on_delivery(err, _msg):
        counts["failed" if err else "acked"] += 1

    payload = b"d" * 1024
    start = time.time()
    for _ in range(int(mb) * 1024):
        while True:
            try:
                p.produce(topic, value=payload, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(600)
    return {**counts, "seconds": round(time.time() - start, 1)}


def probe(bootstrap, topic, rate, out, stop):
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "message.timeout.ms": 300000,
        }
    )
    rate = float(rate)
    payload = b"p" * 1024
    with open(out, "w", buffering=1) as f:

        def report(intended):
            def on_delivery(err, _msg):
                f.write(f"{intended:.6f} {time.time() - intended:.6f} {'error' if err else 'ok'}\n")

            return on_delivery

        start = time.time()
        i = 0
        while not os.path.exists(stop) and time.time() - start < 7200:
            intended = start + i / rate
            now = time.time()
            if intended > now:
                p.poll(intended - now)
                continue
            p.produce(topic, value=payload, on_delivery=report(intended))
            p.poll(0)
            i += 1
        p.flush(300)
    return {"sent": i}


def window(out, t0, t1):
    t0, t1 = float(t0), float(t1)
    lat, failed = [], 0
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            intended, latency, state = float(parts[0]), float(parts[1]), parts[2]
            if not t0 <= intended < t1:
                continue
            if state == "ok":
                lat.append(latency * 1000)
            else:
                failed += 1
    lat.sort()

    def pct(q):
        if not lat:
            return None
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)

    return {
        "count": len(lat),
        "failed": failed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": round(lat[-1], 1) if lat else None,
    }


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    modes = {"fill": fill, "probe": probe, "window": window}
    print(json.dumps(modes[mode](*args)))
