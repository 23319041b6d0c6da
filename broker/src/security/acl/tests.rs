//! The ACL model's and the authorizer's rules, one test per rule.

use super::*;
use crate::security::Principal;
use authorizer::Requester;

fn bind(
    rt: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    host: &str,
    op: Operation,
    perm: Permission,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: pattern,
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn allow_topic(name: &str, pattern: PatternType, principal: &str, op: Operation) -> AclBinding {
    bind(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        "*",
        op,
        Permission::Allow,
    )
}

fn on(bindings: &[AclBinding]) -> Authorizer {
    let a = Authorizer::new(
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "",
        false,
    )
    .expect("authorizer");
    a.load(bindings);
    a
}

fn can(a: &Authorizer, who: &str, host: &str, op: Operation, rt: ResourceType, name: &str) -> bool {
    let p: Principal = who.parse().expect("principal");
    a.authorize(
        Requester {
            principal: &p,
            host,
        },
        op,
        rt,
        name,
    )
}

fn topic(a: &Authorizer, who: &str, op: Operation, name: &str) -> bool {
    can(a, who, "10.0.0.1", op, ResourceType::Topic, name)
}

use Operation as O;
use PatternType::{Literal, Prefixed};

#[test]
fn off_allows_everything_and_unknown_classes_are_refused() {
    let off = Authorizer::new("", "", false).expect("off");
    assert!(!off.is_enabled());
    assert!(topic(&off, "User:bob", O::Write, "t"));
    assert!(Authorizer::new("kafka.security.authorizer.AclAuthorizer", "", false).is_ok());
    assert!(matches!(
        Authorizer::new("com.example.MyAuthorizer", "", false),
        Err(AuthorizerError::UnknownClass(_))
    ));
    assert!(Authorizer::new("kafka.security.authorizer.AclAuthorizer", "alice", false).is_err());
}

#[test]
fn super_users_may_do_anything_even_when_denied() {
    let a = Authorizer::new(
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "User:admin; User:ops",
        false,
    )
    .expect("authorizer");
    a.load(&[bind(
        ResourceType::Topic,
        "*",
        Literal,
        "User:*",
        "*",
        O::All,
        Permission::Deny,
    )]);
    assert!(topic(&a, "User:admin", O::Delete, "t"));
    assert!(topic(&a, "User:ops", O::Write, "t"));
    assert!(!topic(&a, "User:bob", O::Read, "t"));
}

#[test]
fn no_acl_on_the_resource_falls_back_to_allow_everyone_if_no_acl_found() {
    let strict = on(&[]);
    assert!(!topic(&strict, "User:bob", O::Read, "t"));
    let lax = Authorizer::new(
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "",
        true,
    )
    .expect("authorizer");
    assert!(topic(&lax, "User:bob", O::Read, "t"));
    // An ACL on the resource for someone else: the default no longer applies.
    lax.load(&[allow_topic("t", Literal, "User:alice", O::Read)]);
    assert!(!topic(&lax, "User:bob", O::Read, "t"));
    assert!(topic(&lax, "User:bob", O::Read, "other"));
}

#[test]
fn literal_wildcard_and_prefixed_patterns_match_their_resources() {
    let a = on(&[
        allow_topic("orders", Literal, "User:alice", O::Read),
        allow_topic("*", Literal, "User:bob", O::Read),
        allow_topic("logs.", Prefixed, "User:carol", O::Read),
    ]);
    assert!(topic(&a, "User:alice", O::Read, "orders"));
    assert!(!topic(&a, "User:alice", O::Read, "orders2"));
    assert!(topic(&a, "User:bob", O::Read, "anything"));
    assert!(topic(&a, "User:carol", O::Read, "logs.app"));
    assert!(topic(&a, "User:carol", O::Read, "logs."));
    assert!(!topic(&a, "User:carol", O::Read, "logs"));
    assert!(!topic(&a, "User:carol", O::Read, "orders"));
    // Resource types are separate namespaces.
    assert!(!can(
        &a,
        "User:alice",
        "1.2.3.4",
        O::Read,
        ResourceType::Group,
        "orders"
    ));
}

#[test]
fn the_wildcard_principal_and_hosts_narrow_who_matches() {
    let a = on(&[
        allow_topic("t", Literal, "User:*", O::Write),
        bind(
            ResourceType::Topic,
            "t",
            Literal,
            "User:alice",
            "192.168.1.5",
            O::Read,
            Permission::Allow,
        ),
    ]);
    assert!(topic(&a, "User:anyone", O::Write, "t"));
    assert!(can(
        &a,
        "User:alice",
        "192.168.1.5",
        O::Read,
        ResourceType::Topic,
        "t"
    ));
    assert!(!can(
        &a,
        "User:alice",
        "192.168.1.6",
        O::Read,
        ResourceType::Topic,
        "t"
    ));
}

#[test]
fn deny_wins_over_allow_whatever_the_pattern() {
    let a = on(&[
        allow_topic("t", Literal, "User:alice", O::All),
        bind(
            ResourceType::Topic,
            "t",
            Prefixed,
            "User:alice",
            "*",
            O::Write,
            Permission::Deny,
        ),
    ]);
    assert!(topic(&a, "User:alice", O::Read, "t"));
    assert!(!topic(&a, "User:alice", O::Write, "t"));
    // A DENY of ALL denies every operation; a DENY by host only from that host.
    let b = on(&[
        allow_topic("t", Literal, "User:*", O::All),
        bind(
            ResourceType::Topic,
            "*",
            Literal,
            "User:bob",
            "10.0.0.1",
            O::All,
            Permission::Deny,
        ),
    ]);
    assert!(!topic(&b, "User:bob", O::Describe, "t"));
    assert!(can(
        &b,
        "User:bob",
        "10.0.0.2",
        O::Describe,
        ResourceType::Topic,
        "t"
    ));
    assert!(topic(&b, "User:alice", O::Describe, "t"));
}

#[test]
fn a_deny_of_describe_is_not_implied_by_a_deny_of_read() {
    // Implications apply to ALLOW only (Kafka's rule).
    let a = on(&[
        allow_topic("t", Literal, "User:alice", O::Describe),
        bind(
            ResourceType::Topic,
            "t",
            Literal,
            "User:alice",
            "*",
            O::Read,
            Permission::Deny,
        ),
    ]);
    assert!(topic(&a, "User:alice", O::Describe, "t"));
    assert!(!topic(&a, "User:alice", O::Read, "t"));
}

#[test]
fn operations_imply_describe_as_kafka_does() {
    for (granted, implied) in [
        (O::Read, true),
        (O::Write, true),
        (O::Delete, true),
        (O::Alter, true),
        (O::Create, false),
        (O::AlterConfigs, false),
        (O::DescribeConfigs, false),
    ] {
        let a = on(&[allow_topic("t", Literal, "User:u", granted)]);
        assert_eq!(
            topic(&a, "User:u", O::Describe, "t"),
            implied,
            "{granted:?}"
        );
    }
    let a = on(&[allow_topic("t", Literal, "User:u", O::AlterConfigs)]);
    assert!(topic(&a, "User:u", O::DescribeConfigs, "t"));
    assert!(!topic(&a, "User:u", O::Alter, "t"));
    let all = on(&[allow_topic("t", Literal, "User:u", O::All)]);
    for op in ResourceType::Topic.operations() {
        assert!(topic(&all, "User:u", *op, "t"), "{op:?}");
    }
    let read = on(&[allow_topic("t", Literal, "User:u", O::Read)]);
    assert!(!topic(&read, "User:u", O::Write, "t"));
}

#[test]
fn authorized_operations_are_kafkas_bit_sets() {
    let a = on(&[allow_topic("t", Literal, "User:u", O::Read)]);
    let p: Principal = "User:u".parse().expect("principal");
    let who = Requester {
        principal: &p,
        host: "1.1.1.1",
    };
    // READ (3) and the implied DESCRIBE (8).
    assert_eq!(
        a.authorized_operations(who, ResourceType::Topic, "t"),
        (1 << 3) | (1 << 8)
    );
    let off = Authorizer::disabled();
    // Every group operation: READ, DESCRIBE, DELETE.
    assert_eq!(
        off.authorized_operations(who, ResourceType::Group, "g"),
        (1 << 3) | (1 << 8) | (1 << 6)
    );
}

#[test]
fn idempotent_write_may_come_from_write_on_any_topic() {
    let p: Principal = "User:u".parse().expect("principal");
    let who = Requester {
        principal: &p,
        host: "1.1.1.1",
    };
    assert!(!on(&[]).authorize_any(who, O::Write, ResourceType::Topic));
    let a = on(&[allow_topic("events.", Prefixed, "User:u", O::Write)]);
    assert!(a.authorize_any(who, O::Write, ResourceType::Topic));
    let denied = on(&[
        allow_topic("events.", Prefixed, "User:u", O::Write),
        bind(
            ResourceType::Topic,
            "*",
            Literal,
            "User:u",
            "*",
            O::Write,
            Permission::Deny,
        ),
    ]);
    assert!(!denied.authorize_any(who, O::Write, ResourceType::Topic));
}

#[test]
fn bindings_are_checked_as_createacls_checks_them() {
    let ok = AclBinding::from_wire(2, "t", 3, "User:alice", "*", 3, 3).expect("valid");
    assert_eq!(ok.operation, O::Read);
    assert!(AclBinding::from_wire(4, "kafka-cluster", 3, "User:a", "*", 7, 3).is_ok());
    for (rt, name, pattern, principal, host, op, perm) in [
        (1, "t", 3, "User:a", "*", 3, 3),         // ANY resource type
        (2, "t", 1, "User:a", "*", 3, 3),         // ANY pattern
        (2, "t", 2, "User:a", "*", 3, 3),         // MATCH pattern
        (2, "t", 3, "alice", "*", 3, 3),          // principal without a type
        (2, "t", 3, "User:a", "not-an-ip", 3, 3), // host
        (2, "t", 3, "User:a", "*", 1, 3),         // ANY operation
        (2, "t", 3, "User:a", "*", 3, 1),         // ANY permission
        (4, "other", 3, "User:a", "*", 7, 3),     // cluster name
        (3, "g", 3, "User:a", "*", 4, 3),         // WRITE on a group
        (2, "*", 4, "User:a", "*", 3, 3),         // prefixed wildcard
        (2, "", 3, "User:a", "*", 3, 3),          // empty name
    ] {
        assert!(
            matches!(
                AclBinding::from_wire(rt, name, pattern, principal, host, op, perm),
                Err(AclError::Invalid(_))
            ),
            "{rt} {name} {pattern} {principal} {host} {op} {perm}"
        );
    }
    assert!(matches!(
        AclBinding::from_wire(6, "tok", 3, "User:a", "*", 8, 3),
        Err(AclError::Unsupported(_))
    ));
    assert!(matches!(
        AclBinding::from_wire(7, "u", 3, "User:a", "*", 8, 3),
        Err(AclError::Unsupported(_))
    ));
}

#[test]
fn filters_match_as_kafkas_binding_filters() {
    let lit = allow_topic("orders", Literal, "User:alice", O::Read);
    let star = allow_topic("*", Literal, "User:bob", O::Read);
    let pre = allow_topic("ord", Prefixed, "User:carol", O::Write);
    let group = bind(
        ResourceType::Group,
        "orders",
        Literal,
        "User:alice",
        "*",
        O::Read,
        Permission::Allow,
    );
    let index = AclIndex::new([&lit, &star, &pre, &group]);
    let f = |rt, name: Option<&str>, pattern, principal: Option<&str>, op, perm| {
        let filter =
            AclFilter::from_wire(rt, name, pattern, principal, None, op, perm).expect("filter");
        index.matching(&filter)
    };
    assert_eq!(f(1, None, 1, None, 1, 1).len(), 4);
    assert_eq!(f(2, None, 1, None, 1, 1).len(), 3);
    // ANY with a name: exact names of either pattern type.
    assert_eq!(f(2, Some("orders"), 1, None, 1, 1), vec![lit.clone()]);
    // LITERAL / PREFIXED with a name: that pattern type and name only.
    assert_eq!(f(2, Some("ord"), 4, None, 1, 1), vec![pre.clone()]);
    assert!(f(2, Some("ord"), 3, None, 1, 1).is_empty());
    // MATCH: everything that applies to the resource named.
    let mut matched = f(2, Some("orders"), 2, None, 1, 1);
    matched.sort();
    let mut expected = vec![lit.clone(), star.clone(), pre.clone()];
    expected.sort();
    assert_eq!(matched, expected);
    assert_eq!(f(1, None, 1, Some("User:alice"), 1, 1).len(), 2);
    assert_eq!(f(1, None, 1, None, 4, 1), vec![pre.clone()]);
    assert!(f(1, None, 1, None, 1, 2).is_empty());
    assert!(AclFilter::from_wire(2, None, 9, None, None, 1, 1).is_err());
    assert!(AclFilter::from_wire(2, None, 1, Some("nobody"), None, 1, 1).is_err());
}

#[test]
fn the_index_ignores_duplicate_bindings() {
    let b = allow_topic("t", Literal, "User:a", O::Read);
    let index = AclIndex::new([&b, &b]);
    assert_eq!(index.len(), 1);
}
