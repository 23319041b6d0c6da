"""ACLs for SCRAM users through confluent-kafka (broker/tests/security_clients.rs).

usage: sec_acl.py BOOTSTRAP   (a SASL_PLAINTEXT listener; SCRAM-SHA-512 users admin, alice,
bob; the StandardAuthorizer with super.users=User:admin and allow.everyone.if.no.acl.found=false)

admin (a super user) creates topics secret and app.orders with 5 records each, then through
the AdminClient creates ACLs (alice: READ on topics prefixed app., READ on groups prefixed app-;
bob: a WRITE on secret), describes them with filters and deletes bob's. Then:
  alice  Metadata lists app.orders but not secret; a consumer in group app-1 reads app.orders;
         secret is refused with TOPIC_AUTHORIZATION_FAILED, group other with
         GROUP_AUTHORIZATION_FAILED; CreateAcls and AlterUserScramCredentials with
         CLUSTER_AUTHORIZATION_FAILED
  bob    Metadata lists neither; a consumer in group app-1 is refused (GROUP_AUTHORIZATION_FAILED)
  admin  sees every topic and may alter SCRAM credentials
Prints "acl: ok"; exits non-zero on any mismatch. Every wait is bounded."""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, NewTopic, ResourcePatternType, ResourceType,
                                   ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

bootstrap = sys.argv[1]
T = 15


def conf(user):
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user,
            "sasl.password": f"{user}-secret"}


admin = AdminClient(conf("admin"))
ALICE_TOPICS = AclBinding(ResourceType.TOPIC, "app.", ResourcePatternType.PREFIXED, "User:alice",
                          "*", AclOperation.READ, AclPermissionType.ALLOW)
ALICE_GROUPS = AclBinding(ResourceType.GROUP, "app-", ResourcePatternType.PREFIXED, "User:alice",
                          "*", AclOperation.READ, AclPermissionType.ALLOW)
BOB_WRITE = AclBinding(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, "User:bob", "*",
                       AclOperation.WRITE, AclPermissionType.ALLOW)


def acl_filter(principal=None):
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None,
                            AclOperation.ANY, AclPermissionType.ANY)


def consume(user, topic, group, want=None, error=None):
    """Reads `want` records as `user`, or waits for a consumer error named `error` (bounded)."""
    c = Consumer(dict(conf(user), **{"group.id": group, "auto.offset.reset": "earliest",
                                     "enable.auto.commit": False}))
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
                    return None
                continue
            got.append(m.value())
            if want is not None and len(got) >= want:
                c.commit(asynchronous=False)
                return got
    finally:
        c.close()
    raise AssertionError(f"{user} {topic}/{group}: wanted {want or error}, got {len(got)} "
                         f"records, errors {[e.name() for e in errors]}")


def expect_error(fut, name):
    try:
        fut.result(timeout=T)
    except KafkaException as e:
        assert e.args[0].name() == name, f"expected {name}, got {e.args[0]}"
        return
    raise AssertionError(f"expected {name}, got success")


def upsert(user):
    return UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"new-secret")


# The super user sets the stage.
for f in admin.create_topics([NewTopic(t, 1, 1) for t in ("secret", "app.orders")]).values():
    f.result(timeout=T)
p = Producer(conf("admin"))
for t in ("secret", "app.orders"):
    for i in range(5):
        p.produce(t, f"{t}-{i}".encode())
assert p.flush(T) == 0
for f in admin.create_acls([ALICE_TOPICS, ALICE_GROUPS, BOB_WRITE]).values():
    f.result(timeout=T)
every = sorted(admin.describe_acls(acl_filter()).result(timeout=T))
assert every == sorted([ALICE_TOPICS, ALICE_GROUPS, BOB_WRITE]), every
alices = sorted(admin.describe_acls(acl_filter("User:alice")).result(timeout=T))
assert alices == sorted([ALICE_TOPICS, ALICE_GROUPS]), alices
bobs = acl_filter("User:bob")
deleted = admin.delete_acls([bobs])[bobs].result(timeout=T)
assert deleted == [BOB_WRITE], deleted
left = sorted(admin.describe_acls(acl_filter()).result(timeout=T))
assert left == sorted([ALICE_TOPICS, ALICE_GROUPS]), left

# alice: the prefixed ACLs let her read app.* in groups app-*, and nothing else.
alice = AdminClient(conf("alice"))
topics = set(alice.list_topics(timeout=T).topics)
assert "app.orders" in topics and "secret" not in topics, topics
records = consume("alice", "app.orders", "app-1", want=5)
assert records == [f"app.orders-{i}".encode() for i in range(5)], records
consume("alice", "secret", "app-2", error="TOPIC_AUTHORIZATION_FAILED")
consume("alice", "app.orders", "other", error="GROUP_AUTHORIZATION_FAILED")
expect_error(alice.create_acls([BOB_WRITE])[BOB_WRITE], "CLUSTER_AUTHORIZATION_FAILED")
expect_error(alice.alter_user_scram_credentials([upsert("alice")])["alice"],
             "CLUSTER_AUTHORIZATION_FAILED")
# (DescribeUserScramCredentials refused is checked on the wire by the Rust test: librdkafka
# 2.6.1 crashes (SIGSEGV) on a request-level error with a message in that response.)

# bob: no ACL left names him.
bob = AdminClient(conf("bob"))
topics = set(bob.list_topics(timeout=T).topics)
assert "app.orders" not in topics and "secret" not in topics, topics
# Without READ on the group, JoinGroup is refused before any fetch.
consume("bob", "app.orders", "app-1", error="GROUP_AUTHORIZATION_FAILED")

# The super user sees every topic and may change credentials.
topics = set(admin.list_topics(timeout=T).topics)
assert {"secret", "app.orders"} <= topics, topics
admin.alter_user_scram_credentials([upsert("carol")])["carol"].result(timeout=T)
print("acl: ok")
