//! Consumer groups end to end with real clients: confluent-kafka consumers rebalancing under
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! every assignor, committed offsets surviving restarts and crashes, static membership,
//! kafka-python, kcat's balanced consumer, AdminClient group APIs and the lag gauge.

mod common;
use common::{TestBroker, http_get, run_python, run_with_timeout};
use std::process::Command;
use std::time::Duration;

fn broker(partitions: u32) -> TestBroker {
    TestBroker::start(&[
        &format!("num.partitions={partitions}"),
        "auto.create.topics.enable=true",
        "group.initial.rebalance.delay.ms=0",
    ])
}

fn rebalance_with(assignor: &str) {
    let b = broker(6);
    let out = run_python(
        "groups_rebalance.py",
        &b.bootstrap(),
        &[&format!("t-{assignor}"), assignor],
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}

/// KIP-848 (`group.protocol=consumer`): the broker assigns with `assignor` (uniform, range).
fn consumer_protocol_with(assignor: &str) {
    let b = TestBroker::start(&[
        "num.partitions=6",
        "auto.create.topics.enable=true",
        "group.consumer.heartbeat.interval.ms=500",
        "group.consumer.session.timeout.ms=6000",
    ]);
    let out = run_python(
        "groups_rebalance.py",
        &b.bootstrap(),
        &[&format!("kip848-{assignor}"), assignor, "consumer"],
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    // The members really used the new protocol: heartbeats, no JoinGroup.
    let (code, body) = http_get(b.admin_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    let count = |api: &str| -> f64 {
        body.lines()
            .filter(|l| {
                l.starts_with("eddy_requests_total{") && l.contains(&format!("api=\"{api}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert!(count("ConsumerGroupHeartbeat") > 0.0, "metrics:\n{body}");
    assert_eq!(
        count("JoinGroup"),
        0.0,
        "a member fell back to the classic protocol"
    );
}

#[test]
fn consumer_protocol_uniform_members_join_leave_and_consume_exactly_once() {
    consumer_protocol_with("uniform");
}

#[test]
fn consumer_protocol_range_members_join_leave_and_consume_exactly_once() {
    consumer_protocol_with("range");
}

/// KIP-848 online migration with `assignor` on the classic members' side: classic → consumer
/// group when a `group.protocol=consumer` member joins, back to classic when it leaves.
fn migration_with(assignor: &str) {
    let b = TestBroker::start(&[
        "num.partitions=6",
        "auto.create.topics.enable=true",
        "group.initial.rebalance.delay.ms=0",
        "group.consumer.heartbeat.interval.ms=500",
        "group.consumer.session.timeout.ms=6000",
    ]);
    let out = run_python(
        "groups_migration.py",
        &b.bootstrap(),
        &[&format!("migrate-{assignor}"), assignor],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // ListGroups shows the group's type in each phase (where the client library exposes it).
    let types = &report["types"];
    if types["mixed"] != "unknown" {
        assert_eq!(types["classic"], "classic", "{report}");
        assert_eq!(types["mixed"], "consumer", "{report}");
        assert_eq!(types["after"], "classic", "{report}");
    }
}

#[test]
fn classic_range_members_migrate_to_the_consumer_protocol_and_back_exactly_once() {
    migration_with("range");
}

#[test]
fn classic_cooperative_members_migrate_to_the_consumer_protocol_and_back_exactly_once() {
    migration_with("cooperative-sticky");
}

#[test]
fn range_consumers_rebalance_and_consume_exactly_once() {
    rebalance_with("range");
}

#[test]
fn roundrobin_consumers_rebalance_and_consume_exactly_once() {
    rebalance_with("roundrobin");
}

#[test]
fn cooperative_sticky_consumers_rebalance_and_consume_exactly_once() {
    rebalance_with("cooperative-sticky");
}

#[test]
fn committed_offsets_survive_graceful_restart_and_kill9() {
    let mut b = broker(3);
    let bs = b.bootstrap();
    run_python("groups_offsets.py", &bs, &["offs", "g1", "commit", "10"]);
    assert!(b.stop(), "graceful stop failed; log:\n{}", b.log());
    b.spawn();
    run_python("groups_offsets.py", &bs, &["offs", "g1", "check", "10"]);
    run_python("groups_offsets.py", &bs, &["offs", "g1", "commit", "20"]);
    b.kill9();
    b.spawn();
    run_python("groups_offsets.py", &bs, &["offs", "g1", "check", "20"]);
    // The lag gauge: 40 records in each of 3 partitions, committed at 20, 21 and 22.
    let (code, body) = http_get(b.admin_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    let lag: i64 = body
        .lines()
        .filter(|l| l.starts_with("eddy_consumer_lag{") && l.contains("group=\"g1\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(lag, 120 - (20 + 21 + 22), "metrics:\n{body}");
}

#[test]
fn static_member_restart_does_not_rebalance_others() {
    let b = broker(3);
    run_python("groups_static.py", &b.bootstrap(), &["static-t"]);
}

#[test]
fn admin_client_lists_describes_alters_and_deletes_groups() {
    let b = broker(3);
    run_python("groups_admin.py", &b.bootstrap(), &["admin-t"]);
}

#[test]
fn kafka_python_group_consumes_exactly_once() {
    let b = broker(4);
    run_python("groups_kafka_python.py", &b.bootstrap(), &["kp-t"]);
}

#[test]
fn kcat_balanced_consumer_reads_everything_then_resumes_from_commit() {
    let b = broker(3);
    let kcat = |args: &[&str], input: Option<&[u8]>| {
        let out = run_with_timeout(
            Command::new("kcat").arg("-b").arg(b.bootstrap()).args(args),
            input,
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "kcat {args:?}: {}\nbroker log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            b.log()
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let input: String = (0..30).map(|i| format!("m{i}\n")).collect();
    kcat(&["-P", "-t", "kc"], Some(input.as_bytes()));
    let group_args = [
        "-G",
        "kc-group",
        "-X",
        "auto.offset.reset=earliest",
        "-X",
        "session.timeout.ms=6000",
        "-e",
        "-f",
        "%s\n",
        "kc",
    ];
    let out = kcat(&group_args, None);
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    let mut want: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    want.sort_unstable();
    assert_eq!(got, want);
    // The group committed its position: a second run reads only what is new.
    kcat(&["-P", "-t", "kc"], Some(b"late\n"));
    let out = kcat(&group_args, None);
    assert_eq!(out, "late\n");
}

/// Old clients: kafka-python pinned to Kafka 2.1 (no version negotiation) produces, consumes
/// in a group, commits, and looks offsets up with the request versions a 2.1 broker accepted.
#[test]
fn client_pinned_to_kafka_2_1_produces_consumes_and_commits() {
    let b = broker(2);
    run_python("old_client_kafka_python.py", &b.bootstrap(), &["old-t"]);
}
