//! The coordinator's timer on tokio's paused clock: a session deadline is met when it falls due,
//! not at the next periodic tick.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::control::SingleNode;
use state::JoinRequest;

/// Runs ready tasks (the timer) without letting the paused clock move; true once `done` holds.
async fn settle(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..50 {
        if done() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    done()
}

#[tokio::test(start_paused = true)]
async fn a_static_member_expires_exactly_at_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::for_test(dir.path().join("data"));
    config
        .settings
        .insert("group.initial.rebalance.delay.ms".into(), "0".into());
    config
        .settings
        .insert("group.min.session.timeout.ms".into(), "1000".into());
    let node = Node::open(config.clone()).unwrap();
    let control = SingleNode::new(Arc::clone(&node));
    let start = tokio::time::Instant::now();
    let clock: Clock =
        Arc::new(move || 1_700_000_000_000 + i64::try_from(start.elapsed().as_millis()).unwrap());
    let groups = Arc::new(Coordinator::new(&config, false).with_clock(clock));
    groups.start(&node, &control).await.unwrap();

    let session_ms = 6000;
    let joined = groups
        .join(
            &node,
            "g",
            JoinRequest {
                member_id: String::new(),
                group_instance_id: Some("instance-1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: session_ms,
                rebalance_timeout_ms: 10_000,
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), b"m".to_vec())],
                require_known_member_id: true,
            },
            true,
        )
        .await;
    assert_eq!(joined.error, None, "{joined:?}");
    let synced = groups
        .sync(
            &node,
            "g",
            &joined.member_id,
            Some("instance-1"),
            joined.generation_id,
            Some("consumer"),
            Some("range"),
            vec![(joined.member_id.clone(), b"a".to_vec())],
        )
        .await;
    assert_eq!(synced.error, None, "{synced:?}");

    // A heartbeat off the 100 ms grid of the old periodic timer: its session ends 6050 ms
    // later, between two of that timer's ticks.
    tokio::time::sleep(Duration::from_millis(50)).await;
    groups
        .heartbeat(
            "g",
            &joined.member_id,
            Some("instance-1"),
            joined.generation_id,
        )
        .unwrap();
    let heartbeat = tokio::time::Instant::now();
    let members = || groups.describe("g").map_or(0, |g| g.members.len());

    let session = Duration::from_millis(u64::try_from(session_ms).unwrap());
    tokio::time::sleep_until(heartbeat + session - Duration::from_millis(1)).await;
    assert!(
        !settle(|| members() == 0).await,
        "expired before its session timeout"
    );
    tokio::time::sleep_until(heartbeat + session).await;
    assert!(
        settle(|| members() == 0).await,
        "a static member outlived its session timeout"
    );
}
