//! Unit tests of the KafkaUser plan.
use super::*;
use crate::crd::KafkaUserSpec;
use serde_json::json;

fn cluster(listeners: serde_json::Value, authorization: bool) -> KafkaClusterSpec {
    let mut spec = json!({"brokers": 3, "listeners": listeners});
    if authorization {
        spec["authorization"] = json!({"type": "simple", "superUsers": []});
    }
    serde_json::from_value(spec).expect("cluster spec")
}

/// A cluster with a SCRAM-SHA-512 listener and an authorizer, spelt as the CRD of the day does.
fn secure() -> KafkaClusterSpec {
    // Both spellings: `scram` (before issue 15) and `scram-sha-512` (after).
    for auth in ["scram-sha-512", "scram"] {
        if let Ok(c) = serde_json::from_value::<KafkaClusterSpec>(json!({
            "brokers": 3,
            "listeners": [{"name": "sasl", "port": 9094, "tls": true, "authentication": auth}],
            "authorization": {"type": "simple"},
        })) {
            return c;
        }
    }
    panic!("no SCRAM listener spelling parses");
}

fn user(v: serde_json::Value) -> KafkaUserSpec {
    serde_json::from_value(v).expect("user spec")
}

fn alice() -> KafkaUserSpec {
    user(json!({
        "cluster": "c",
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "orders"}, "operations": ["Read", "Write"]},
            {"resource": {"type": "group", "name": "orders-", "patternType": "prefix"}, "operations": ["Read"]},
            {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"], "effect": "deny", "host": "10.0.0.1"},
        ]},
        "quotas": {"producerByteRate": 1024, "requestPercentage": 50},
    }))
}

#[test]
fn a_scram_user_becomes_a_credential_acl_bindings_and_quotas() {
    let d = desired(&alice(), "alice", &secure()).expect("valid");
    assert_eq!(d.principal, "User:alice");
    assert_eq!(d.scram, Some(ScramMechanism::Sha512));
    let acls: Vec<_> = d
        .acls
        .iter()
        .map(|a| {
            (
                a.resource_type,
                a.resource_name.as_str(),
                a.pattern_type,
                a.host.as_str(),
                a.operation,
                a.permission,
            )
        })
        .collect();
    assert_eq!(
        acls,
        vec![
            (2, "orders", 3, "*", 3, 3),
            (2, "orders", 3, "*", 4, 3),
            (3, "orders-", 4, "*", 3, 3),
            (4, "kafka-cluster", 3, "10.0.0.1", 12, 2),
        ]
    );
    assert!(d.acls.iter().all(|a| a.principal == "User:alice"));
    assert_eq!(
        d.quotas,
        BTreeMap::from([
            ("producer_byte_rate".to_string(), 1024.0),
            ("request_percentage".to_string(), 50.0)
        ])
    );
}

#[test]
fn impossible_specs_are_refused_with_a_message_naming_the_problem() {
    let c = secure();
    let refused = |v: serde_json::Value, want: &str| {
        let err = desired(&user(v), "bob", &c).expect_err(want);
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    };
    let acl = |resource: serde_json::Value, ops: serde_json::Value| {
        json!({"cluster": "c", "authentication": {"type": "scram-sha-512"},
               "authorization": {"acls": [{"resource": resource, "operations": ops}]}})
    };
    refused(
        acl(json!({"type": "group", "name": "g"}), json!(["Write"])),
        "operation Write does not exist on a Group",
    );
    refused(
        acl(
            json!({"type": "transactionalId", "name": "t"}),
            json!(["Read"]),
        ),
        "does not exist on a TransactionalId",
    );
    refused(
        acl(
            json!({"type": "cluster", "name": "other"}),
            json!(["Alter"]),
        ),
        "kafka-cluster",
    );
    refused(
        acl(json!({"type": "topic"}), json!(["Read"])),
        "needs a name",
    );
    refused(
        acl(
            json!({"type": "topic", "name": "*", "patternType": "prefix"}),
            json!(["Read"]),
        ),
        "literal wildcard",
    );
    // A SCRAM listener takes SCRAM-SHA-256 users too: such a user gets a SHA-256 credential.
    let sha256 = desired(
        &user(json!({"cluster": "c", "authentication": {"type": "scram-sha-256"}})),
        "bob",
        &c,
    )
    .expect("a SCRAM listener offers scram-sha-256");
    assert_eq!(sha256.scram, Some(ScramMechanism::Sha256));
    refused(
        json!({"cluster": "c", "authentication": {"type": "tls"}}),
        "tls is not offered",
    );
    let err = desired(&alice(), "eddy-operator", &c).expect_err("reserved");
    assert!(err.contains("reserved"), "{err}");
    // ACLs on a cluster without an authorizer would not be enforced.
    let mut no_authz = c.clone();
    no_authz.authorization = None;
    let err = desired(&alice(), "alice", &no_authz).expect_err("no authorizer");
    assert!(err.contains("no authorization"), "{err}");
    // A cluster whose listeners do not authenticate offers no mechanism at all.
    let plain = cluster(json!([{"name": "plaintext", "port": 9092}]), true);
    let err = desired(&alice(), "alice", &plain).expect_err("plaintext");
    assert!(err.contains("no listener authenticates"), "{err}");
}

#[test]
fn scram_credentials_are_written_when_missing_or_rotated_and_other_mechanisms_removed() {
    let info = |m| ScramInfo {
        mechanism: m,
        iterations: 8192,
    };
    let sha512 = Some(ScramMechanism::Sha512);
    assert_eq!(
        scram_steps(sha512, &[], false),
        ScramSteps {
            upsert: sha512,
            delete: vec![]
        }
    );
    assert_eq!(
        scram_steps(sha512, &[info(ScramMechanism::Sha512)], false),
        ScramSteps::default()
    );
    assert_eq!(
        scram_steps(sha512, &[info(ScramMechanism::Sha512)], true).upsert,
        sha512,
        "a changed password Secret rotates the credential"
    );
    assert_eq!(
        scram_steps(
            sha512,
            &[info(ScramMechanism::Sha256), info(ScramMechanism::Sha512)],
            false
        ),
        ScramSteps {
            upsert: None,
            delete: vec![ScramMechanism::Sha256]
        }
    );
    assert_eq!(
        scram_steps(None, &[info(ScramMechanism::Sha512)], true),
        ScramSteps {
            upsert: None,
            delete: vec![ScramMechanism::Sha512]
        },
        "a tls user holds no SCRAM credential"
    );
}

#[test]
fn acls_converge_to_exactly_the_spec() {
    let d = desired(&alice(), "alice", &secure()).expect("valid");
    let mut observed: Vec<AclBinding> = d.acls.iter().skip(1).cloned().collect();
    let extra = AclBinding {
        resource_type: resource_type::TOPIC,
        resource_name: "payments".into(),
        pattern_type: pattern_type::LITERAL,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: 2,
        permission: permission::ALLOW,
    };
    observed.push(extra.clone());
    let (create, delete) = acl_diff(&d.acls, &observed);
    assert_eq!(create, vec![d.acls.iter().next().cloned().expect("first")]);
    assert_eq!(delete, vec![extra]);
    let all: Vec<AclBinding> = d.acls.iter().cloned().collect();
    assert_eq!(acl_diff(&d.acls, &all), (vec![], vec![]));
    assert_eq!(
        acl_diff(&BTreeSet::new(), &all).1,
        all,
        "dropped ACLs are removed"
    );
}

#[test]
fn quotas_are_set_changed_and_removed_only_for_managed_keys() {
    let desired = desired_quotas(Some(&UserQuotas {
        producer_byte_rate: Some(100),
        consumer_byte_rate: Some(200),
        request_percentage: None,
    }));
    let observed = BTreeMap::from([
        ("producer_byte_rate".to_string(), 100.0),
        ("consumer_byte_rate".to_string(), 150.0),
        ("request_percentage".to_string(), 10.0),
        ("controller_mutation_rate".to_string(), 5.0),
    ]);
    let (set, remove) = quota_diff(&desired, &observed);
    assert_eq!(
        set,
        BTreeMap::from([("consumer_byte_rate".to_string(), 200.0)])
    );
    assert_eq!(remove, vec!["request_percentage".to_string()]);
    let (set, remove) = quota_diff(&desired_quotas(None), &observed);
    assert!(set.is_empty());
    assert_eq!(
        remove.len(),
        3,
        "every managed key goes when quotas are dropped"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn binding() -> impl Strategy<Value = AclBinding> {
        (2i8..=5, "[a-c]{1,2}", 3i8..=4, 2i8..=12, 2i8..=3).prop_map(
            |(resource_type, resource_name, pattern_type, operation, permission)| AclBinding {
                resource_type,
                resource_name,
                pattern_type,
                principal: "User:p".into(),
                host: "*".into(),
                operation,
                permission,
            },
        )
    }

    fn quotas() -> impl Strategy<Value = BTreeMap<String, f64>> {
        proptest::collection::btree_map(
            prop_oneof![
                Just("producer_byte_rate".to_string()),
                Just("consumer_byte_rate".to_string()),
                Just("request_percentage".to_string()),
                Just("controller_mutation_rate".to_string()),
            ],
            (1u32..5).prop_map(f64::from),
            0..4,
        )
    }

    proptest! {
        #[test]
        fn applying_the_acl_diff_yields_exactly_the_desired_set(
            desired in proptest::collection::btree_set(binding(), 0..8),
            observed in proptest::collection::vec(binding(), 0..8),
        ) {
            let (create, delete) = acl_diff(&desired, &observed);
            let mut after: BTreeSet<AclBinding> = observed.iter().cloned().collect();
            for d in &delete {
                prop_assert!(after.remove(d), "deletes only what exists");
            }
            for c in &create {
                prop_assert!(after.insert(c.clone()), "creates only what is missing");
            }
            prop_assert_eq!(after, desired);
        }

        #[test]
        fn applying_the_quota_diff_yields_the_desired_managed_keys_and_keeps_the_rest(
            desired in quotas().prop_map(|q| {
                q.into_iter().filter(|(k, _)| QUOTA_KEYS.contains(&k.as_str())).collect::<BTreeMap<_, _>>()
            }),
            observed in quotas(),
        ) {
            let (set, remove) = quota_diff(&desired, &observed);
            let mut after = observed.clone();
            for k in &remove {
                after.remove(k);
            }
            after.extend(set);
            let managed: BTreeMap<_, _> = after
                .iter()
                .filter(|(k, _)| QUOTA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            prop_assert_eq!(managed, desired);
            prop_assert_eq!(
                after.get("controller_mutation_rate"),
                observed.get("controller_mutation_rate"),
                "keys the KafkaUser does not manage are left alone"
            );
        }
    }
}
