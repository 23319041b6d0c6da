"""confluent-kafka idempotent producer (enable.idempotence=true) writing COUNT numbered values to
TOPIC partition 0, slowly enough that the test can kill -9 and restart the broker mid-stream.
Prints "ack <n>" for every acknowledged value (flushed, so the test sees progress), then
"done <errors>". Delivery errors are printed as "err <n> <reason>"."""
import sys

from confluent_kafka import Producer

bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "linger.ms": 2,
    "message.timeout.ms": 60000,
    "retry.backoff.ms": 50,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 200,
    "socket.connection.setup.timeout.ms": 2000,
})
errors = 0


def on_delivery(err, msg):
    global errors
    if err is None:
        print("ack", msg.value().decode(), flush=True)
    else:
        errors += 1
        print("err", msg.value().decode(), err.str(), flush=True)


for i in range(count):
    while True:
        try:
            p.produce(topic, value=str(i).encode(), partition=0, on_delivery=on_delivery)
            break
        except BufferError:
            p.poll(0.05)
    if i % 20 == 19:
        p.poll(0.01)
left = p.flush(90)
print("done", errors + left, flush=True)
