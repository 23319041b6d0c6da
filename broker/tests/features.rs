//! Feature levels (KIP-584, broker/src/features.rs) over the wire: ApiVersions v3+ reports the
//! supported and finalized levels; UpdateFeatures finalizes a level only when every registered
//! broker supports it, refuses downgrades, and a broker whose binary cannot run the finalized
//! level refuses to start. Both releases run as the real binaries: `broker` (0.1.0,
//! `eddy.version` 1) and `broker-0-2-0` (0.2.0, levels 1 to 2; level 2 adds DescribeCluster v2).
#![allow(clippy::unwrap_used)]

mod cluster_support;
mod common;
mod wire;

use cluster_support::{start_brokers, start_brokers_with};
use common::{TestBroker, broker_0_2_0_bin};
use eddy_test_support::eventually;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeClusterRequest,
    DescribeClusterResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use wire::Wire;

const FEATURE: &str = "eddy.version";
const INVALID_UPDATE_VERSION: i16 = 95;
const UNSUPPORTED_VERSION: i16 = 35;

/// Switches `b` (stopped) to release 0.2.0's binary, or back to 0.1.0's.
fn run_release(b: &mut TestBroker, newer: bool) {
    b.bin = newer.then(broker_0_2_0_bin);
}

fn api_versions(b: &TestBroker) -> ApiVersionsResponse {
    let mut w = Wire::connect(&b.bootstrap());
    w.call(
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("eddy-test"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        3,
    )
}

/// (supported min, max, finalized level, finalized epoch) of `eddy.version`.
fn levels(b: &TestBroker) -> (i16, i16, i16, i64) {
    let r = api_versions(b);
    let s = r
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == FEATURE)
        .expect("supported eddy.version");
    let f = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == FEATURE)
        .expect("finalized eddy.version");
    assert_eq!(f.min_version_level, f.max_version_level);
    (
        s.min_version,
        s.max_version,
        f.max_version_level,
        r.finalized_features_epoch,
    )
}

fn update(b: &TestBroker, level: i16, upgrade_type: i8, version: i16) -> UpdateFeaturesResponse {
    let mut w = Wire::connect(&b.bootstrap());
    w.call(
        &UpdateFeaturesRequest::default()
            .with_timeout_ms(30_000)
            .with_feature_updates(vec![
                FeatureUpdateKey::default()
                    .with_feature(StrBytes::from_static_str(FEATURE))
                    .with_max_version_level(level)
                    .with_upgrade_type(upgrade_type),
            ]),
        version,
    )
}

/// The v1 answer's error code and message for the one feature.
fn result(r: &UpdateFeaturesResponse) -> (i16, String) {
    assert_eq!(r.error_code, 0, "{r:?}");
    let f = &r.results[0];
    (
        f.error_code,
        f.error_message
            .as_ref()
            .map(std::string::ToString::to_string)
            .unwrap_or_default(),
    )
}

/// Launches `b` and waits (bounded) for it to exit on its own; its exit code and log.
fn refused_start(b: &mut TestBroker) -> (Option<i32>, String) {
    b.launch();
    let status = eventually(
        "the broker exits",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || b.child.as_mut().unwrap().try_wait().unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", b.log()));
    b.child = None;
    (status.code(), b.log())
}

#[test]
fn a_single_node_finalizes_only_what_it_supports_and_never_downgrades() {
    let mut b = TestBroker::start(&[]);
    assert_eq!(levels(&b), (1, 1, 1, 0));
    // ApiVersions v2 has no feature fields (they are v3 tagged fields).
    let mut w = Wire::connect(&b.bootstrap());
    let v2: ApiVersionsResponse = w.call(&ApiVersionsRequest::default(), 2);
    assert!(v2.finalized_features.is_empty() && v2.supported_features.is_empty());

    let (code, msg) = result(&update(&b, 2, 1, 1));
    assert_eq!(code, INVALID_UPDATE_VERSION, "{msg}");
    assert!(msg.contains("supports 1 to 1"), "{msg}");
    assert_eq!(levels(&b).2, 1);

    // The newer binary: validate-only changes nothing, then the upgrade applies.
    assert!(b.stop());
    run_release(&mut b, true);
    b.spawn();
    let mut w = Wire::connect(&b.bootstrap());
    let r: UpdateFeaturesResponse = w.call(
        &UpdateFeaturesRequest::default()
            .with_validate_only(true)
            .with_feature_updates(vec![
                FeatureUpdateKey::default()
                    .with_feature(StrBytes::from_static_str(FEATURE))
                    .with_max_version_level(2)
                    .with_upgrade_type(1),
            ]),
        1,
    );
    assert_eq!(result(&r).0, 0);
    assert_eq!(levels(&b), (1, 2, 1, 0));
    assert_eq!(result(&update(&b, 2, 1, 1)).0, 0);
    assert_eq!(levels(&b), (1, 2, 2, 1));
    // v2 answers at the top level only; a downgrade is refused with Kafka's code.
    let r = update(&b, 1, 2, 2);
    assert_eq!(r.error_code, INVALID_UPDATE_VERSION, "{r:?}");
    assert!(r.results.is_empty());
    assert_eq!(result(&update(&b, 1, 3, 1)).0, INVALID_UPDATE_VERSION);
    assert_eq!(levels(&b).2, 2);

    // The finalized level survives a restart, and the old binary refuses to run it.
    assert!(b.stop());
    run_release(&mut b, false);
    let (code, log) = refused_start(&mut b);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("finalized eddy.version level is 2; this broker supports 1 to 1"),
        "{log}"
    );
}

#[test]
fn a_cluster_finalizes_a_level_once_every_broker_runs_a_binary_that_supports_it() {
    let mut brokers = start_brokers(3, &[], "3000");
    for b in &brokers {
        assert_eq!(levels(b), (1, 1, 1, 0));
    }
    // Roll brokers 0 and 1 to the newer binary: the level cannot be finalized while broker 2
    // runs the old one.
    for b in brokers.iter_mut().take(2) {
        assert!(b.stop());
        run_release(b, true);
        b.spawn();
    }
    let (code, msg) = result(&update(&brokers[0], 2, 1, 1));
    assert_eq!(code, INVALID_UPDATE_VERSION, "{msg}");
    assert!(msg.contains("broker 2 supports 1 to 1"), "{msg}");
    // Rolling back is an ordinary restart before finalizing.
    assert!(brokers[1].stop());
    run_release(&mut brokers[1], false);
    brokers[1].spawn();
    assert_eq!(levels(&brokers[1]), (1, 1, 1, 0));
    for b in brokers.iter_mut().skip(1) {
        assert!(b.stop());
        run_release(b, true);
        b.spawn();
    }
    // Through a broker that is not necessarily the controller: forwarded.
    assert_eq!(result(&update(&brokers[2], 2, 1, 1)).0, 0);
    for b in &brokers {
        eventually(
            "finalized level 2 everywhere",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || (levels(b).2 == 2).then_some(()),
        )
        .unwrap();
    }
    // A downgrade is refused; an old binary can no longer join.
    let (code, msg) = result(&update(&brokers[1], 1, 2, 1));
    assert_eq!(code, INVALID_UPDATE_VERSION, "{msg}");
    assert!(brokers[2].stop());
    run_release(&mut brokers[2], false);
    let (code, log) = refused_start(&mut brokers[2]);
    assert_eq!(code, Some(78), "{log}");
    assert!(log.contains("refusing to start"), "{log}");
    assert!(log.contains("this broker supports 1 to 1"), "{log}");
}

/// DescribeCluster's advertised max version in `b`'s ApiVersions v3 answer.
fn describe_cluster_max(b: &TestBroker) -> i16 {
    api_versions(b)
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::DescribeCluster as i16)
        .expect("DescribeCluster advertised")
        .max_version
}

fn describe_cluster(b: &TestBroker, version: i16) -> DescribeClusterResponse {
    let mut w = Wire::connect(&b.bootstrap());
    w.call(
        &DescribeClusterRequest::default()
            .with_endpoint_type(1)
            .with_include_fenced_brokers(version >= 2),
        version,
    )
}

/// `b`'s admin `/v1/broker/state` answer.
fn broker_state(b: &TestBroker) -> serde_json::Value {
    let (code, body) = common::http_get(b.admin_port, "/v1/broker/state").expect("state");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

#[test]
fn release_0_2_0_serves_describe_cluster_v2_only_once_level_2_is_finalized() {
    let mut b = TestBroker::new(&[], Vec::new());
    run_release(&mut b, true);
    b.spawn();
    assert_eq!(levels(&b), (1, 2, 1, 0));
    let state = broker_state(&b);
    assert_eq!(state["version"], "0.2.0", "{state}");
    assert_eq!(
        state["supported_features"][FEATURE],
        serde_json::json!([1, 2])
    );
    assert_eq!(state["finalized_features"][FEATURE], 1);
    // Level 1: v2 is neither advertised nor served (answered with UNSUPPORTED_VERSION).
    assert_eq!(describe_cluster_max(&b), 1);
    let r = describe_cluster(&b, 2);
    assert_eq!(r.error_code, UNSUPPORTED_VERSION, "{r:?}");
    assert!(r.brokers.is_empty());
    assert_eq!(describe_cluster(&b, 1).brokers.len(), 1);

    assert_eq!(result(&update(&b, 2, 1, 1)).0, 0);
    assert_eq!(describe_cluster_max(&b), 2);
    let r = describe_cluster(&b, 2);
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.brokers.len(), 1);
    assert!(!r.brokers[0].is_fenced);
    assert_eq!(broker_state(&b)["finalized_features"][FEATURE], 2);

    // 0.1.0 cannot run level 2 (exit 78, EX_CONFIG); 0.2.0 again can, at level 2.
    assert!(b.stop());
    run_release(&mut b, false);
    let (code, log) = refused_start(&mut b);
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("this broker supports 1 to 1"), "{log}");
    run_release(&mut b, true);
    b.spawn();
    assert_eq!(levels(&b), (1, 2, 2, 1));
    assert_eq!(describe_cluster_max(&b), 2);
}

#[test]
fn at_level_2_a_cluster_lists_its_fenced_brokers() {
    let mut brokers = start_brokers_with(3, &[], "3000", |b| run_release(b, true));
    for b in &brokers {
        assert_eq!(levels(b), (1, 2, 1, 0));
        assert_eq!(broker_state(b)["version"], "0.2.0");
    }
    assert_eq!(
        describe_cluster(&brokers[0], 2).error_code,
        UNSUPPORTED_VERSION
    );
    assert_eq!(result(&update(&brokers[0], 2, 1, 1)).0, 0);
    for b in &brokers {
        eventually(
            "finalized level 2 everywhere",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || (describe_cluster_max(b) == 2).then_some(()),
        )
        .unwrap();
    }
    // Broker 2 stops: once fenced, v2 still lists it (fenced), v1 no longer does.
    assert!(brokers[2].stop());
    let r = eventually(
        "broker 2 fenced",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let r = describe_cluster(&brokers[0], 2);
            r.brokers
                .iter()
                .any(|b| b.broker_id.0 == 2 && b.is_fenced)
                .then_some(r)
        },
    )
    .unwrap();
    assert_eq!(r.brokers.len(), 3, "{r:?}");
    assert_eq!(r.brokers.iter().filter(|b| b.is_fenced).count(), 1);
    let v1 = describe_cluster(&brokers[0], 1);
    assert_eq!(v1.brokers.len(), 2, "{v1:?}");
}
