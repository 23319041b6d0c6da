//! `eddy.io/force-replace` on a generated CA Secret: a new key, trusted next to the old one
//! before any broker certificate is signed with it; the same value never replaces twice.
use super::*;

fn secure() -> KafkaClusterSpec {
    serde_json::from_value(serde_json::json!({
        "brokers": 2,
        "listeners": [{"name": "tls", "port": 9093, "tls": true}],
    }))
    .expect("spec")
}

fn run(existing: &BTreeMap<String, SecretData>, now: SystemTime) -> CertPlan {
    let names = Names::new("c");
    let spec = secure();
    plan(&CertInput {
        spec: &spec,
        names: &names,
        namespace: "kafka",
        pods: &[],
        brokers: spec.brokers,
        existing,
        exposed: &BTreeMap::new(),
        now,
    })
    .expect("plan")
}

/// What the API server holds after applying `plan` over `existing` (annotations merged, as a
/// server-side apply leaves other managers' annotations).
fn applied(existing: &mut BTreeMap<String, SecretData>, plan: &CertPlan) {
    for s in &plan.secrets {
        let entry = existing.entry(s.name.clone()).or_default();
        entry.data.clone_from(&s.data);
        entry
            .annotations
            .extend(s.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

fn get<'a>(plan: &'a CertPlan, name: &str) -> &'a DesiredSecret {
    plan.secrets
        .iter()
        .find(|s| s.name == name)
        .expect("secret")
}

#[test]
fn a_forced_replacement_trusts_both_then_switches_once() {
    let now = SystemTime::now();
    let mut existing = BTreeMap::new();
    let first = run(&existing, now);
    applied(&mut existing, &first);
    let old_ca = get(&first, "c-cluster-ca").data["ca.crt"].clone();
    let old_key = get(&first, "c-cluster-ca").data["ca.key"].clone();
    let old_leaf = get(&first, "c-broker-certs").data["c-broker-0.crt"].clone();

    // Nothing asked: the key stays.
    let again = run(&existing, now + Duration::from_secs(5));
    assert_eq!(get(&again, "c-cluster-ca").data["ca.key"], old_key);

    // The user annotates the CA Secret.
    existing
        .get_mut("c-cluster-ca")
        .expect("ca")
        .annotations
        .insert(FORCE_REPLACE_ANNOTATION.into(), "2026-12-06".into());
    let t1 = now + Duration::from_secs(10);
    let step1 = run(&existing, t1);
    let ca = get(&step1, "c-cluster-ca");
    let new_ca = ca.data["ca.crt"].clone();
    assert_ne!(ca.data["ca.key"], old_key, "a new key");
    assert_eq!(
        ca.annotations
            .get(FORCE_REPLACED_ANNOTATION)
            .map(String::as_str),
        Some("2026-12-06")
    );
    let bundle = &get(&step1, "c-cluster-ca-cert").data["ca.crt"];
    assert!(bundle.contains(new_ca.trim()) && bundle.contains(old_ca.trim()));
    assert!(step1.issued.is_empty(), "no broker presents the new CA yet");
    assert_eq!(
        get(&step1, "c-broker-certs").data["c-broker-0.crt"],
        old_leaf
    );
    applied(&mut existing, &step1);

    // Before the bundle has propagated: still the old certificates, same new key (once only).
    let step2 = run(&existing, t1 + Duration::from_secs(30));
    assert_eq!(get(&step2, "c-cluster-ca").data["ca.crt"], new_ca);
    assert!(step2.issued.is_empty());
    applied(&mut existing, &step2);

    // After it: every broker certificate is signed by the new key; the old CA stays trusted.
    let step3 = run(&existing, t1 + TRUST_PROPAGATION + Duration::from_secs(1));
    assert_eq!(step3.issued.len(), 2, "{:?}", step3.issued);
    let leaf = &get(&step3, "c-broker-certs").data["c-broker-0.crt"];
    assert!(pki::signed_by(leaf, &new_ca));
    assert!(get(&step3, "c-cluster-ca-cert").data["ca.crt"].contains(old_ca.trim()));
    assert_eq!(get(&step3, "c-cluster-ca").data["ca.crt"], new_ca);
}
