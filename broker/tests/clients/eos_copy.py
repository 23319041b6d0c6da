"""An exactly-once copy loop with confluent-kafka (KIP-98/KIP-447), as confluent-kafka's EOS
example runs it: BOOTSTRAP SCENARIO ARGS.

fill  SRC N           N records (key "k<i>", value "<i>") into SRC (idempotent, acks=all).
copy  SRC DST GROUP TID DIR [PAUSE_AFTER]
      A transactional producer (fixed TID) and a read_committed consumer of GROUP
      (enable.auto.commit=false) copy SRC to DST: poll a batch, produce each record's key with
      value "copy-<value>", send the consumed offsets to the transaction with the consumer's group
      metadata, commit. An abortable error aborts and rewinds to the committed offsets; a
      rebalance revoking partitions aborts the open transaction (its records' offsets go back
      to the committed ones). DIR/progress holds "<commits> <records copied>" after each
      commit. With PAUSE_AFTER, after that many commits the next transaction is left open with
      its records acknowledged and its offsets sent; DIR/paused is touched and the loop waits for
      DIR/go (the test kills this process or a broker meanwhile). Stops once the group's
      committed offsets are SRC's end offsets; prints "ok commits=.. aborts=.. retries=..".
zombie SRC DST GROUP DIR
      KIP-447's case: member "zombie" (its own transactional id) consumes a batch, produces its
      copies and stalls past max.poll.interval.ms holding the consumer group metadata of that
      generation; meanwhile a copy loop ("copy" above, another transactional id) joins the
      group, gets every partition once the zombie is gone and copies everything. The zombie
      wakes and sends its offsets with the stale metadata: the group coordinator must refuse
      them (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID), and it aborts. Prints "ok fenced <error>".
verify SRC DST GROUP N
      A read_committed reader of DST sees every record of SRC exactly once, transformed and with
      its key; the group's committed offsets are SRC's end offsets.
Every loop is bounded in time; a failed check raises (non-zero exit)."""
import os
import sys
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)

from groups_common import FAST, check_committed_at_end, produce, read_all

BATCH = 200
DEADLINE_S = 150


def write_progress(d, commits, copied):
    tmp = os.path.join(d, "progress.tmp")
    with open(tmp, "w") as f:
        f.write(f"{commits} {copied}\n")
    os.replace(tmp, os.path.join(d, "progress"))


def rewind(consumer):
    """Seeks every assigned partition back to the group's committed offset (the start if none)."""
    parts = consumer.assignment()
    if not parts:
        return
    for tp in consumer.committed(parts, 60):
        offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        try:
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        except KafkaException as e:
            # Not fetching yet: it will start from the committed offset anyway.
            print(f"seek {tp.partition}: {e}", file=sys.stderr)


def copy(src, dst, group, tid, d, pause_after):
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": tid,
        "linger.ms": 5,
        "transaction.timeout.ms": 60000,
    })
    # Before joining the group: fences a zombie of this id and aborts its open transaction, so
    # its staged offsets stop blocking the group's (require_stable) offset fetch.
    producer.init_transactions(60)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": tid,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        **FAST,
    })
    state = {"open": False, "aborts": 0}

    def on_revoke(_consumer, _partitions):
        # The open transaction's records came from partitions that may move: abort it, so their
        # next owner (or this member again) restarts from the committed offsets.
        if state["open"]:
            producer.abort_transaction(60)
            state["open"] = False
            state["aborts"] += 1

    consumer.subscribe([src], on_revoke=on_revoke)
    md = consumer.list_topics(src, timeout=30)
    parts = [TopicPartition(src, p) for p in md.topics[src].partitions]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in parts}

    def finished():
        committed = consumer.committed(parts, 60)
        return all(tp.offset == ends[tp.partition] for tp in committed)

    commits, copied, retries = 0, 0, 0
    deadline = time.monotonic() + DEADLINE_S
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {DEADLINE_S} s: {commits} commits")
        msgs = [m for m in consumer.consume(BATCH, 0.5) if not m.error()]
        if not msgs:
            if not state["open"] and finished():
                break
            continue
        try:
            if not state["open"]:
                producer.begin_transaction()
                state["open"] = True
            offsets = {}
            for m in msgs:
                producer.produce(dst, key=m.key(), value=b"copy-" + m.value())
                offsets[(m.topic(), m.partition())] = m.offset() + 1
            producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                consumer.consumer_group_metadata(),
                60,
            )
            if pause_after is not None and commits == pause_after:
                pause_after = None
                producer.flush(60)
                open(os.path.join(d, "paused"), "w").close()
                go = time.monotonic() + 90
                while not os.path.exists(os.path.join(d, "go")):
                    if time.monotonic() > go:
                        raise RuntimeError("paused and never told to go on")
                    time.sleep(0.05)
            for attempt in range(20):
                try:
                    producer.commit_transaction(60)
                    break
                except KafkaException as e:
                    if not e.args[0].retriable() or attempt == 19:
                        raise
                    retries += 1
                    print(f"commit retried: {e}", file=sys.stderr)
            state["open"] = False
            commits += 1
            copied += len(msgs)
            write_progress(d, commits, copied)
        except KafkaException as e:
            err = e.args[0]
            if not err.txn_requires_abort():
                raise
            print(f"aborting after {err}", file=sys.stderr)
            producer.abort_transaction(60)
            state["open"] = False
            state["aborts"] += 1
            rewind(consumer)
    consumer.close()
    print(f"ok commits={commits} copied={copied} aborts={state['aborts']} retries={retries}")


def zombie(src, dst, group, d):
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "zombie"})
    producer.init_transactions(60)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "zombie",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        **FAST,
        "max.poll.interval.ms": 7000,
    })
    consumer.subscribe([src])
    deadline = time.monotonic() + 60
    msgs = []
    while not msgs:
        if time.monotonic() > deadline:
            raise RuntimeError("the zombie got no records")
        msgs = [m for m in consumer.consume(BATCH, 0.5) if not m.error()]
    # The generation the batch was consumed in.
    meta = consumer.consumer_group_metadata()
    producer.begin_transaction()
    offsets = {}
    for m in msgs:
        producer.produce(dst, key=m.key(), value=b"copy-" + m.value())
        offsets[(m.topic(), m.partition())] = m.offset() + 1
    producer.flush(60)
    # Stalls (no poll) while another member takes the partitions and copies everything.
    copy(src, dst, group, "eos-copy-successor", d, None)
    try:
        producer.send_offsets_to_transaction(
            [TopicPartition(t, p, o) for (t, p), o in offsets.items()], meta, 60)
        producer.commit_transaction(60)
    except KafkaException as e:
        err = e.args[0]
        assert err.txn_requires_abort(), f"not abortable: {err}"
        producer.abort_transaction(60)
        print(f"ok fenced {err.name()}")
        return
    finally:
        consumer.close()
    raise AssertionError(f"the zombie committed {len(msgs)} records its successor copied too")


def verify(src, dst, group, n):
    got = read_all(bootstrap, dst, 6, "read_committed", n)
    seen = {}
    for m in got:
        key, value = m.key().decode(), m.value().decode()
        assert value.startswith("copy-"), f"not a copy: {value!r}"
        i = int(value[len("copy-"):])
        assert key == f"k{i}", f"key {key!r} with value {value!r}"
        seen[i] = seen.get(i, 0) + 1
    duplicated = sorted(i for i, c in seen.items() if c > 1)
    missing = sorted(set(range(n)) - set(seen))
    assert not duplicated, f"{len(duplicated)} records copied more than once: {duplicated[:20]}"
    assert not missing, f"{len(missing)} records never copied: {missing[:20]}"
    assert len(got) == n, f"{len(got)} records in {dst}, not {n}"
    total = check_committed_at_end(bootstrap, group, src)
    assert total == n, f"{src} holds {total} records, not {n}"
    print(f"ok {n}")


bootstrap, scenario = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
if scenario == "fill":
    produce(bootstrap, args[0], 0, int(args[1]))
    print("ok")
elif scenario == "copy":
    copy(*args[:5], int(args[5]) if len(args) > 5 else None)
elif scenario == "zombie":
    zombie(*args[:4])
elif scenario == "verify":
    verify(args[0], args[1], args[2], int(args[3]))
else:
    raise SystemExit(f"unknown scenario {scenario}")
