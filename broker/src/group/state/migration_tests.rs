//! Online migration (KIP-848 mixed groups): a classic group upgraded by a consumer-protocol
//! member, its classic members served by the consumer group through a rebalance, and the
//! downgrade when the consumer-protocol member leaves. The property checked all along: no
//! partition is ever held by two members.

use super::*;
use crate::group::consumer::protocol::{decode_assignment, encode_assignment, encode_subscription};
use crate::group::consumer::{Heartbeat, Settings};
use crate::group::state::{GroupState, JoinRequest};
use std::collections::BTreeSet;

const SETTINGS: Settings = Settings {
    session_timeout_ms: 45_000,
    heartbeat_interval_ms: 5_000,
    max_size: 10,
};

const LIMITS: Limits = Limits {
    min_session_timeout_ms: 6_000,
    max_session_timeout_ms: 300_000,
    initial_rebalance_delay_ms: 0,
};

fn topics() -> BTreeMap<String, TopicMeta> {
    [(
        "orders".to_string(),
        TopicMeta {
            id: uuid::Uuid::from_bytes([7; 16]),
            partitions: 6,
        },
    )]
    .into_iter()
    .collect()
}

fn parts(ps: &[i32]) -> protocol::Partitions {
    vec![("orders".to_string(), ps.to_vec())]
}

fn classic_member(id: &str, assigned: &[i32]) -> Member {
    Member {
        member_id: id.into(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![(
            "range".into(),
            encode_subscription(1, &["orders"], &Vec::new()),
        )],
        assignment: encode_assignment(1, &parts(assigned)),
        awaiting_join: false,
        awaiting_sync: false,
        last_heartbeat_ms: 0,
    }
}

/// A Stable classic group of two range consumers at generation 5, 3 partitions each.
fn stable_classic() -> Group {
    let mut g = Group::new("g");
    g.state = GroupState::Stable;
    g.generation_id = 5;
    g.protocol_type = Some("consumer".into());
    g.protocol_name = Some("range".into());
    g.leader = Some("a".into());
    for (id, ps) in [("a", [0, 1, 2]), ("b", [3, 4, 5])] {
        g.members.insert(id.into(), classic_member(id, &ps));
    }
    g
}

fn rejoin(id: &str) -> JoinRequest {
    JoinRequest {
        member_id: id.into(),
        client_id: "c".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![(
            "range".into(),
            encode_subscription(1, &["orders"], &Vec::new()),
        )],
        ..Default::default()
    }
}

fn consumer_join(id: &str) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["orders".into()]),
        owned: Some(Default::default()),
        client_member_id: true,
        ..Default::default()
    }
}

fn held(cg: &ConsumerGroup) -> usize {
    let mut seen = BTreeSet::new();
    for m in cg.members.values() {
        for (t, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
            for p in ps {
                assert!(seen.insert((*t, *p)), "{t}-{p} held twice: {cg:#?}");
            }
        }
    }
    seen.len()
}

fn synced(cg: &mut ConsumerGroup, id: &str, generation: i32) -> Vec<i32> {
    let r = cg
        .classic_sync(id, None, generation, Some("consumer"), Some("range"), 0)
        .expect("sync");
    let got = decode_assignment(&r.assignment).expect("a consumer assignment");
    got.into_iter().flat_map(|(_, ps)| ps).collect()
}

#[test]
fn an_upgrade_keeps_the_classic_members_and_their_partitions() {
    let mut g = stable_classic();
    g.members.get_mut("b").unwrap().awaiting_join = true;
    let fx = g.upgrade_to_consumer(&topics(), 100).unwrap();
    // A parked JoinGroup learns the group moved on; the change is persisted.
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Join { member_id, result }
        if member_id == "b" && result.error == Some(GroupError::RebalanceInProgress)))
    );
    assert!(fx.contains(&Effect::Persist));
    assert!(g.members.is_empty());
    let cg = g.consumer.as_ref().unwrap();
    assert_eq!((cg.group_epoch, cg.assignment_epoch), (5, 5));
    assert_eq!(cg.members["a"].member_epoch, 5);
    assert!(cg.members["a"].classic.is_some());
    assert_eq!(held(cg), 6);
    assert_eq!(cg.members["a"].subscribed_topic_names, ["orders"]);
    // The classic members carry on at their generation until the group moves.
    let cg = g.consumer.as_mut().unwrap();
    assert_eq!(cg.classic_heartbeat("a", None, 5, 200), Ok(()));
    assert_eq!(synced(cg, "b", 5), vec![3, 4, 5]);
    assert_eq!(
        cg.classic_heartbeat("a", None, 4, 200),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        cg.validate_member("a", 4),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(cg.validate_member("a", 5), Ok(()));
}

#[test]
fn only_consumer_protocol_groups_are_upgraded() {
    let mut g = stable_classic();
    g.protocol_type = Some("connect".into());
    let before = g.clone().snapshot();
    assert_eq!(
        g.upgrade_to_consumer(&topics(), 0),
        Err(GroupError::GroupNotFound)
    );
    assert_eq!(g.snapshot(), before);
    let mut g = stable_classic();
    g.members.get_mut("a").unwrap().protocols[0].1 = b"\x00".to_vec();
    assert_eq!(
        g.upgrade_to_consumer(&topics(), 0),
        Err(GroupError::GroupNotFound)
    );
}

#[test]
fn classic_members_rebalance_with_a_consumer_member_and_go_back_when_it_leaves() {
    let mut g = stable_classic();
    g.upgrade_to_consumer(&topics(), 0).unwrap();
    let cg = g.consumer.as_mut().unwrap();
    // The consumer-protocol member joins: a new epoch, and it waits for partitions the
    // classic members still hold.
    let c = cg
        .heartbeat(consumer_join("c"), &topics(), "x".into(), 10, &SETTINGS)
        .unwrap();
    assert_eq!(c.member_epoch, 6);
    assert!(c.assignment.unwrap().is_empty(), "nothing is free yet");
    assert_eq!(held(cg), 6);
    // The classic members are told to rejoin; an eager member owns nothing when it does.
    for id in ["a", "b"] {
        assert_eq!(
            cg.classic_heartbeat(id, None, 5, 20),
            Err(GroupError::RebalanceInProgress)
        );
        assert!(cg.members[id].join_deadline_ms.is_some());
        let j = cg
            .classic_join(&rejoin(id), &topics(), "unused".into(), 30, &SETTINGS)
            .unwrap();
        assert_eq!(j.error, None);
        assert_eq!(j.generation_id, 6);
        assert_eq!(j.leader, "", "nobody assigns on the client side");
        assert!(j.members.is_empty());
        assert_eq!(j.protocol_name.as_deref(), Some("range"));
        assert!(cg.members[id].join_deadline_ms.is_none());
        let got = synced(cg, id, 6);
        assert_eq!(got.len(), 2, "{id} keeps two partitions: {got:?}");
        assert_eq!(cg.classic_heartbeat(id, None, 6, 40), Ok(()));
        held(cg);
    }
    // The consumer member now gets the two released partitions.
    let beat = Heartbeat {
        member_id: "c".into(),
        member_epoch: 6,
        rebalance_timeout_ms: -1,
        owned: Some(Default::default()),
        client_member_id: true,
        ..Default::default()
    };
    let c = cg
        .heartbeat(beat, &topics(), "x".into(), 50, &SETTINGS)
        .unwrap_or_else(|r| panic!("{r:?}"));
    assert_eq!(
        c.assignment.map(|a| a.values().map(BTreeSet::len).sum()),
        Some(2)
    );
    assert_eq!(held(cg), 6);
    assert!(
        cg.members
            .values()
            .all(|m| m.assigned.values().map(BTreeSet::len).sum::<usize>() == 2)
    );
    // It leaves: only classic members remain, and the group goes back to the classic
    // protocol at the group's epoch, with a rebalance.
    let leave = Heartbeat {
        member_id: "c".into(),
        member_epoch: -1,
        client_member_id: true,
        ..Default::default()
    };
    cg.heartbeat(leave, &topics(), "x".into(), 60, &SETTINGS)
        .unwrap();
    assert!(cg.only_classic_members());
    let epoch = cg.group_epoch;
    let fx = g.downgrade_to_classic(70, &LIMITS);
    assert!(fx.contains(&Effect::Persist));
    assert!(g.consumer.is_none());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.generation_id, epoch);
    assert_eq!(g.protocol_name.as_deref(), Some("range"));
    let a = decode_assignment(&g.members["a"].assignment).unwrap();
    assert_eq!(a[0].1.len(), 2);
    // The classic rebalance runs as usual: the members' heartbeats say rejoin.
    assert_eq!(
        g.heartbeat("a", None, epoch, 80),
        Err(GroupError::RebalanceInProgress)
    );
}

#[test]
fn classic_requests_to_a_consumer_group_get_kafkas_errors() {
    let mut g = stable_classic();
    g.upgrade_to_consumer(&topics(), 0).unwrap();
    let cg = g.consumer.as_mut().unwrap();
    // Another protocol type, or protocols no other classic member has.
    let mut connect = rejoin("");
    connect.protocol_type = "connect".into();
    assert_eq!(
        cg.classic_join(&connect, &topics(), "n".into(), 0, &SETTINGS),
        Err(GroupError::InconsistentProtocol)
    );
    let mut other = rejoin("");
    other.protocols[0].0 = "roundrobin".into();
    assert_eq!(
        cg.classic_join(&other, &topics(), "n".into(), 0, &SETTINGS),
        Err(GroupError::InconsistentProtocol)
    );
    // A v4+ dynamic member first gets its id, and nothing changes.
    let mut fresh = rejoin("");
    fresh.require_known_member_id = true;
    let before = cg.clone();
    let r = cg
        .classic_join(&fresh, &topics(), "new-id".into(), 0, &SETTINGS)
        .unwrap();
    assert_eq!(
        (r.error, r.member_id.as_str()),
        (Some(GroupError::MemberIdRequired), "new-id")
    );
    assert_eq!(*cg, before);
    // Sync: wrong generation, wrong protocol, unknown member.
    assert_eq!(
        cg.classic_sync("a", None, 4, None, None, 0).unwrap_err(),
        GroupError::IllegalGeneration
    );
    assert_eq!(
        cg.classic_sync("a", None, 5, Some("consumer"), Some("sticky"), 0)
            .unwrap_err(),
        GroupError::InconsistentProtocol
    );
    assert_eq!(
        cg.classic_sync("zz", None, 5, None, None, 0).unwrap_err(),
        GroupError::UnknownMember
    );
    // Leaving: the member is gone and the group moves on for the other.
    assert_eq!(cg.classic_leave(&[("a".into(), None)]), vec![Ok(())]);
    assert_eq!(
        cg.classic_leave(&[("a".into(), None)]),
        vec![Err(GroupError::UnknownMember)]
    );
    assert_eq!(
        cg.classic_heartbeat("b", None, 5, 0),
        Err(GroupError::RebalanceInProgress)
    );
    let j = cg
        .classic_join(&rejoin("b"), &topics(), "n".into(), 0, &SETTINGS)
        .unwrap();
    assert_eq!(synced(cg, "b", j.generation_id).len(), 6);
}

#[test]
fn a_cooperative_member_keeps_what_it_still_owns_until_it_revokes() {
    let mut g = stable_classic();
    g.upgrade_to_consumer(&topics(), 0).unwrap();
    let cg = g.consumer.as_mut().unwrap();
    cg.heartbeat(consumer_join("c"), &topics(), "x".into(), 10, &SETTINGS)
        .unwrap();
    // "a" rejoins listing what it still owns (cooperative): it must first give one up.
    let mut coop = rejoin("a");
    coop.protocols = vec![(
        "range".into(),
        encode_subscription(1, &["orders"], &parts(&[0, 1, 2])),
    )];
    let j = cg
        .classic_join(&coop, &topics(), "n".into(), 20, &SETTINGS)
        .unwrap();
    assert_eq!(j.generation_id, 5, "still revoking: same epoch");
    let kept = synced(cg, "a", 5);
    assert_eq!(kept.len(), 2);
    held(cg);
    assert_eq!(
        cg.classic_heartbeat("a", None, 5, 30),
        Err(GroupError::RebalanceInProgress)
    );
    // It revoked: its next join moves it to the new epoch.
    coop.protocols = vec![(
        "range".into(),
        encode_subscription(1, &["orders"], &parts(&kept)),
    )];
    let j = cg
        .classic_join(&coop, &topics(), "n".into(), 40, &SETTINGS)
        .unwrap();
    assert_eq!(j.generation_id, 6);
    assert_eq!(synced(cg, "a", 6), kept);
    held(cg);
}

#[test]
fn a_mixed_group_survives_its_snapshot() {
    let mut g = stable_classic();
    g.upgrade_to_consumer(&topics(), 0).unwrap();
    let snap: super::super::GroupSnapshot =
        serde_json::from_slice(&serde_json::to_vec(&g.snapshot()).unwrap()).unwrap();
    let mut back = Group::new("g");
    back.restore(snap, 1_000);
    let cg = back.consumer.as_mut().unwrap();
    assert_eq!(
        cg.members["a"].classic,
        g.consumer.as_ref().unwrap().members["a"].classic
    );
    assert_eq!(cg.members["a"].last_heartbeat_ms, 1_000);
    // The classic member carries on where it was.
    assert_eq!(synced(cg, "a", 5), vec![0, 1, 2]);
}

#[test]
fn classic_members_expire_on_their_own_session_and_rejoin_deadlines() {
    let mut g = stable_classic();
    g.upgrade_to_consumer(&topics(), 0).unwrap();
    let cg = g.consumer.as_mut().unwrap();
    // Their own 10 s session timeout, not the broker's 45 s.
    assert_eq!(cg.next_deadline(&SETTINGS), Some(10_000));
    assert_eq!(cg.classic_heartbeat("a", None, 5, 9_000), Ok(()));
    assert_eq!(cg.tick(10_000, &SETTINGS), 1, "b's session expired");
    assert!(!cg.members.contains_key("b"));
    // The group moved on: "a" is told to rejoin, and removed when it does not in time.
    assert_eq!(
        cg.classic_heartbeat("a", None, 5, 11_000),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(cg.members["a"].join_deadline_ms, Some(41_000));
    assert_eq!(
        cg.classic_heartbeat("a", None, 5, 19_000),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(
        cg.classic_heartbeat("a", None, 5, 35_000),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(cg.tick(40_999, &SETTINGS), 0, "its session is alive");
    assert_eq!(cg.tick(41_000, &SETTINGS), 1);
    assert!(cg.is_empty());
}

#[test]
fn a_static_classic_member_rejoining_takes_over_its_partitions() {
    let mut g = stable_classic();
    g.members.get_mut("a").unwrap().group_instance_id = Some("i-a".into());
    g.upgrade_to_consumer(&topics(), 0).unwrap();
    let cg = g.consumer.as_mut().unwrap();
    let epoch = cg.group_epoch;
    let mut again = rejoin("");
    again.group_instance_id = Some("i-a".into());
    again.require_known_member_id = true;
    let j = cg
        .classic_join(&again, &topics(), "a2".into(), 10, &SETTINGS)
        .unwrap();
    assert_eq!((j.error, j.member_id.as_str()), (None, "a2"));
    assert_eq!(cg.group_epoch, epoch, "no rebalance");
    assert!(!cg.members.contains_key("a"));
    assert_eq!(synced(cg, "a2", j.generation_id), vec![0, 1, 2]);
    // The old incarnation is fenced.
    assert_eq!(
        cg.classic_sync("a", Some("i-a"), j.generation_id, None, None, 20)
            .unwrap_err(),
        GroupError::FencedInstanceId
    );
}
