//! Feature levels (KIP-584, broker/src/features.rs) over the wire: ApiVersions v3+ reports the
//! supported and finalized levels; UpdateFeatures finalizes a level only when every registered
//! broker supports it, refuses downgrades, and a broker whose binary cannot run the finalized
//! level refuses to start. The newer binary is this one with `EDDY_TEST_SUPPORTED_FEATURES`
//! widening its range, until two broker versions ship.
#![allow(clippy::unwrap_used)]

mod cluster_support;
mod common;
mod wire;

use cluster_support::start_brokers;
use common::TestBroker;
use eddy_test_support::eventually;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use wire::Wire;

const FEATURE: &str = "eddy.version";
const NEWER: (&str, &str) = ("EDDY_TEST_SUPPORTED_FEATURES", "eddy.version=1-2");
const INVALID_UPDATE_VERSION: i16 = 95;

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
    b.env.push((NEWER.0.into(), NEWER.1.into()));
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
    b.env.clear();
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
        b.env.push((NEWER.0.into(), NEWER.1.into()));
        b.spawn();
    }
    let (code, msg) = result(&update(&brokers[0], 2, 1, 1));
    assert_eq!(code, INVALID_UPDATE_VERSION, "{msg}");
    assert!(msg.contains("broker 2 supports 1 to 1"), "{msg}");
    // Rolling back is an ordinary restart before finalizing.
    assert!(brokers[1].stop());
    brokers[1].env.clear();
    brokers[1].spawn();
    assert_eq!(levels(&brokers[1]), (1, 1, 1, 0));
    for b in brokers.iter_mut().skip(1) {
        assert!(b.stop());
        b.env.push((NEWER.0.into(), NEWER.1.into()));
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
    brokers[2].env.clear();
    let (code, log) = refused_start(&mut brokers[2]);
    assert_eq!(code, Some(78), "{log}");
    assert!(log.contains("refusing to start"), "{log}");
    assert!(log.contains("this broker supports 1 to 1"), "{log}");
}
