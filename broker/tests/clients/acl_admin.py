"""confluent-kafka AdminClient against a broker with the ACL authorizer on (ANONYMOUS a super user).

Modes (argv[2]):
  create    create literal and prefixed ACLs, describe them with filters, delete some (the
            answer lists what was deleted), leave the rest for the restart check
  persisted after a restart: the ACLs left by `create` are still there, exactly
  disabled   a broker without an authorizer answers SECURITY_DISABLED
Exits non-zero on any mismatch."""
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, ResourcePatternType, ResourceType)

bootstrap, mode = sys.argv[1], sys.argv[2]
T = 15
admin = AdminClient({"bootstrap.servers": bootstrap})

ANY = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                       AclOperation.ANY, AclPermissionType.ANY)


def binding(rt, name, pattern, principal, op, perm=AclPermissionType.ALLOW, host="*"):
    return AclBinding(rt, name, pattern, principal, host, op, perm)


ALICE_READ = binding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice",
                     AclOperation.READ)
ALICE_APP = binding(ResourceType.TOPIC, "app.", ResourcePatternType.PREFIXED, "User:alice",
                    AclOperation.WRITE)
BOB_DENY = binding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:bob",
                   AclOperation.ALL, AclPermissionType.DENY, host="10.0.0.7")
GROUP_READ = binding(ResourceType.GROUP, "app-", ResourcePatternType.PREFIXED, "User:alice",
                     AclOperation.READ)
ANY_TOPIC = binding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, "User:*",
                    AclOperation.DESCRIBE)
CLUSTER = binding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, "User:ops",
                  AclOperation.ALTER)
ALL = [ALICE_READ, ALICE_APP, BOB_DENY, GROUP_READ, ANY_TOPIC, CLUSTER]


def describe(f):
    return sorted(admin.describe_acls(f).result(timeout=T))


def expect_error(fut, code_name):
    try:
        fut.result(timeout=T)
    except KafkaException as e:
        err = e.args[0]
        assert err.name() == code_name, f"expected {code_name}, got {err.name()}: {err.str()}"
        return
    raise AssertionError(f"expected {code_name}, got success")


if mode == "create":
    assert describe(ANY) == [], describe(ANY)
    for b, f in admin.create_acls(ALL).items():
        f.result(timeout=T)
    # Creating the same binding again is not an error and stores it once.
    admin.create_acls([ALICE_READ])[ALICE_READ].result(timeout=T)
    assert describe(ANY) == sorted(ALL), describe(ANY)

    # Filters: by resource type, by principal, by pattern type, MATCH, by operation/permission.
    groups = AclBindingFilter(ResourceType.GROUP, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)
    assert describe(groups) == [GROUP_READ], describe(groups)
    alice = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert describe(alice) == sorted([ALICE_READ, ALICE_APP, GROUP_READ]), describe(alice)
    prefixed = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.PREFIXED, None, None,
                                AclOperation.ANY, AclPermissionType.ANY)
    assert describe(prefixed) == sorted([ALICE_APP, GROUP_READ]), describe(prefixed)
    # MATCH: every binding that applies to topic app.orders (the prefix and the '*' literal).
    match = AclBindingFilter(ResourceType.TOPIC, "app.orders", ResourcePatternType.MATCH, None,
                             None, AclOperation.ANY, AclPermissionType.ANY)
    assert describe(match) == sorted([ALICE_APP, ANY_TOPIC]), describe(match)
    denies = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.DENY)
    assert describe(denies) == [BOB_DENY], describe(denies)
    cluster = AclBindingFilter(ResourceType.BROKER, None, ResourcePatternType.ANY, None, None,
                               AclOperation.ANY, AclPermissionType.ANY)
    assert describe(cluster) == [CLUSTER], describe(cluster)

    # Invalid bindings are refused one by one; the valid ones in the same request are stored.
    bad = binding(ResourceType.BROKER, "not-the-cluster", ResourcePatternType.LITERAL, "User:x",
                  AclOperation.ALTER)
    expect_error(admin.create_acls([bad])[bad], "INVALID_REQUEST")

    # Delete: each filter's answer lists the bindings it deleted.
    topic_orders = AclBindingFilter(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, None,
                                    None, AclOperation.ANY, AclPermissionType.ANY)
    cluster_f = cluster
    results = admin.delete_acls([topic_orders, cluster_f])
    deleted = sorted(results[topic_orders].result(timeout=T))
    assert deleted == sorted([ALICE_READ, BOB_DENY]), deleted
    assert results[cluster_f].result(timeout=T) == [CLUSTER]
    # Deleting again matches nothing.
    assert admin.delete_acls([topic_orders])[topic_orders].result(timeout=T) == []
    left = describe(ANY)
    assert left == sorted([ALICE_APP, GROUP_READ, ANY_TOPIC]), left
    print("create: ok")
elif mode == "persisted":
    left = describe(ANY)
    assert left == sorted([ALICE_APP, GROUP_READ, ANY_TOPIC]), left
    # DescribeAcls v0 (no pattern type: LITERAL bindings only), sent with kafka-python's codec.
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.admin import DescribeAclsRequest_v0
    kp = KafkaAdminClient(bootstrap_servers=bootstrap)
    node = kp._client.least_loaded_node()
    req = DescribeAclsRequest_v0(resource_type=2, resource_name=None, principal=None, host=None,
                                 operation=1, permission_type=1)
    fut = kp._client.send(node, req)
    kp._client.poll(future=fut, timeout_ms=T * 1000)
    resp = fut.value
    assert resp.API_VERSION == 0 and resp.error_code == 0, resp
    # [(type, name, [(principal, host, operation, permission)])]
    assert [(r[0], r[1], [a[0] for a in r[2]]) for r in resp.resources] == [(2, "*", ["User:*"])], resp
    kp.close()
    print("persisted: ok")
elif mode == "disabled":
    # librdkafka 2.6 drops DescribeAcls' top-level error (an empty list comes back);
    # kafka-python raises it.
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             KafkaAdminClient, ResourcePatternFilter)
    from kafka.admin import ResourceType as KpResourceType
    from kafka.errors import SecurityDisabledError
    kp = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        kp.describe_acls(ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                                   permission_type=ACLPermissionType.ANY,
                                   resource_pattern=ResourcePatternFilter(
                                       KpResourceType.ANY, None, ACLResourcePatternType.ANY)))
        raise AssertionError("kafka-python describe_acls: expected SecurityDisabledError")
    except SecurityDisabledError:
        pass
    kp.close()
    expect_error(admin.create_acls([ALICE_READ])[ALICE_READ], "SECURITY_DISABLED")
    expect_error(admin.delete_acls([ANY])[ANY], "SECURITY_DISABLED")
    print("disabled: ok")
else:
    raise SystemExit(f"unknown mode {mode}")
