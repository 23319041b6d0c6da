"""ACL enforcement as confluent-kafka clients see it (the principal is User:ANONYMOUS).

Modes (argv[2]):
  setup     (ANONYMOUS a super user) create topics secret, app.orders, app.denied with 5 records
            each, and the ACLs: ALLOW READ on topics prefixed app., ALLOW READ on groups
            prefixed app-, DENY READ on topic app.denied
  enforced  (no super users, allow.everyone.if.no.acl.found=false) Metadata hides secret; a
            consumer reads app.orders in group app-1; secret and app.denied are refused with
            TOPIC_AUTHORIZATION_FAILED; group other with GROUP_AUTHORIZATION_FAILED; producing
            and CreateAcls are refused
Exits non-zero on any mismatch."""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType)

bootstrap, mode = sys.argv[1], sys.argv[2]
T = 15
admin = AdminClient({"bootstrap.servers": bootstrap})
TOPICS = ["secret", "app.orders", "app.denied", "app.writes"]
ANON = "User:ANONYMOUS"
ACLS = [
    AclBinding(ResourceType.TOPIC, "app.", ResourcePatternType.PREFIXED, ANON, "*",
               AclOperation.READ, AclPermissionType.ALLOW),
    AclBinding(ResourceType.GROUP, "app-", ResourcePatternType.PREFIXED, ANON, "*",
               AclOperation.READ, AclPermissionType.ALLOW),
    AclBinding(ResourceType.TOPIC, "app.denied", ResourcePatternType.LITERAL, ANON, "*",
               AclOperation.READ, AclPermissionType.DENY),
    AclBinding(ResourceType.TOPIC, "app.writes", ResourcePatternType.LITERAL, ANON, "*",
               AclOperation.WRITE, AclPermissionType.ALLOW),
]


def consume(topic, group, want=None, error=None):
    """Reads `want` records, or waits for a consumer error named `error` (bounded)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got, errors = [], []
    deadline = time.time() + T
    try:
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
                if error and m.error().name() == error:
                    return
                continue
            got.append(m.value())
            if want is not None and len(got) >= want:
                c.commit(asynchronous=False)
                return got
    finally:
        c.close()
    raise AssertionError(f"{topic}/{group}: wanted {want or error}, got {len(got)} records, "
                         f"errors {[e.name() for e in errors]}")


if mode == "setup":
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in TOPICS]).values():
        f.result(timeout=T)
    p = Producer({"bootstrap.servers": bootstrap})
    for t in TOPICS:
        for i in range(5):
            p.produce(t, f"{t}-{i}".encode())
    assert p.flush(T) == 0
    for f in admin.create_acls(ACLS).values():
        f.result(timeout=T)
    print("setup: ok")
elif mode == "enforced":
    # Metadata for all topics leaves out the one ANONYMOUS may not describe.
    topics = set(admin.list_topics(timeout=T).topics)
    assert "app.orders" in topics and "app.denied" in topics, topics
    assert "secret" not in topics, topics
    # The prefixed ALLOWs let a consumer in group app-1 read and commit.
    records = consume("app.orders", "app-1", want=5)
    assert records == [f"app.orders-{i}".encode() for i in range(5)], records
    # No ACL on the topic (and allow.everyone.if.no.acl.found=false): refused.
    consume("secret", "app-2", error="TOPIC_AUTHORIZATION_FAILED")
    # The DENY beats the prefixed ALLOW.
    consume("app.denied", "app-3", error="TOPIC_AUTHORIZATION_FAILED")
    # A group outside the prefix.
    consume("app.orders", "other", error="GROUP_AUTHORIZATION_FAILED")
    # READ does not allow WRITE.
    failures = []
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10000})
    p.produce("app.orders", b"x", on_delivery=lambda err, msg: failures.append(err))
    p.flush(T)
    assert failures and failures[0] is not None, failures
    assert failures[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, failures[0]
    # An idempotent producer: InitProducerId is allowed by WRITE on some topic (app.writes),
    # without IDEMPOTENT_WRITE on the cluster, and its records land.
    acked = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "message.timeout.ms": 10000})
    p.produce("app.writes", b"w", on_delivery=lambda err, msg: acked.append(err))
    assert p.flush(T) == 0 and acked == [None], acked
    # Changing ACLs needs ALTER on the cluster.
    b = ACLS[0]
    try:
        admin.create_acls([b])[b].result(timeout=T)
        raise AssertionError("CreateAcls without ALTER on the cluster succeeded")
    except KafkaException as e:
        assert e.args[0].name() == "CLUSTER_AUTHORIZATION_FAILED", e
    print("enforced: ok")
else:
    raise SystemExit(f"unknown mode {mode}")
