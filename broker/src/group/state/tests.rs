//! Unit and property tests of the pure group state machine.

use super::*;

const LIMITS: Limits = Limits {
    min_session_timeout_ms: 1000,
    max_session_timeout_ms: 60_000,
    initial_rebalance_delay_ms: 0,
};

fn req(member_id: &str, protocols: &[(&str, &[u8])]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(n, m)| ((*n).to_string(), m.to_vec()))
            .collect(),
        require_known_member_id: true,
    }
}

fn range() -> JoinRequest {
    req("", &[("range", b"r")])
}

/// Runs the MEMBER_ID_REQUIRED handshake and the real join; returns the member id.
fn join_new(g: &mut Group, r: JoinRequest, id: &str, now: i64) -> (String, Vec<Effect>) {
    let (a, fx) = g.join(r.clone(), id.to_string(), true, now, &LIMITS);
    let Answer::Now(res) = a else {
        panic!("expected MEMBER_ID_REQUIRED")
    };
    assert_eq!(res.error, Some(GroupError::MemberIdRequired));
    assert!(fx.is_empty());
    let (a, fx) = g.join(
        JoinRequest {
            member_id: res.member_id.clone(),
            ..r
        },
        "unused".into(),
        true,
        now,
        &LIMITS,
    );
    assert_eq!(
        a,
        Answer::Later {
            member_id: res.member_id.clone()
        }
    );
    (res.member_id, fx)
}

fn joins(fx: &[Effect]) -> Vec<(String, JoinResult)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Join { member_id, result } => Some((member_id.clone(), result.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(fx: &[Effect]) -> Vec<(String, SyncResult)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Sync { member_id, result } => Some((member_id.clone(), result.clone())),
            _ => None,
        })
        .collect()
}

/// A stable group of two dynamic members a (leader) and b at generation 2.
fn stable_pair() -> Group {
    let mut g = Group::new("g");
    let (a, fx) = join_new(&mut g, range(), "a", 0);
    assert_eq!(joins(&fx).len(), 1, "a alone completes generation 1");
    let (b, fx) = join_new(&mut g, range(), "b", 1);
    assert!(fx.is_empty(), "b waits for a to rejoin");
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let (ans, fx) = g.join(req(&a, &[("range", b"r")]), String::new(), true, 2, &LIMITS);
    assert_eq!(
        ans,
        Answer::Later {
            member_id: a.clone()
        }
    );
    let js = joins(&fx);
    assert_eq!(js.len(), 2);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert_eq!(g.generation_id, 2);
    let leader = js.iter().find(|(id, _)| id == &a).unwrap();
    assert_eq!(leader.1.leader, a);
    assert_eq!(leader.1.members.len(), 2);
    assert!(
        js.iter()
            .find(|(id, _)| id == &b)
            .unwrap()
            .1
            .members
            .is_empty()
    );
    let (ans, _) = g.sync(&b, None, 2, None, None, vec![], 3);
    assert_eq!(
        ans,
        Answer::Later {
            member_id: b.clone()
        }
    );
    let (ans, fx) = g.sync(
        &a,
        None,
        2,
        Some("consumer"),
        Some("range"),
        vec![(a.clone(), b"A".to_vec()), (b.clone(), b"B".to_vec())],
        4,
    );
    let Answer::Now(own) = ans else { panic!() };
    assert_eq!(own.assignment, b"A");
    let s = syncs(&fx);
    assert_eq!(
        s,
        vec![(
            b.clone(),
            SyncResult {
                error: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: b"B".to_vec(),
            }
        )]
    );
    assert!(fx.contains(&Effect::Persist));
    assert_eq!(g.state, GroupState::Stable);
    g
}

#[test]
fn two_members_rebalance_to_stable() {
    let g = stable_pair();
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.protocol_name.as_deref(), Some("range"));
}

#[test]
fn heartbeat_errors_follow_kafka() {
    let mut g = stable_pair();
    assert_eq!(g.heartbeat("a", None, 2, 5), Ok(()));
    assert_eq!(
        g.heartbeat("zz", None, 2, 5),
        Err(GroupError::UnknownMember)
    );
    assert_eq!(
        g.heartbeat("a", None, 1, 5),
        Err(GroupError::IllegalGeneration)
    );
    // A new member triggers a rebalance: old members learn about it from heartbeats.
    join_new(&mut g, range(), "c", 6);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat("a", None, 2, 7),
        Err(GroupError::RebalanceInProgress)
    );
    let (ans, _) = g.sync("a", None, 2, None, None, vec![], 7);
    assert_eq!(
        ans,
        Answer::Now(SyncResult::error(GroupError::RebalanceInProgress))
    );
    let mut empty = Group::new("e");
    assert_eq!(
        empty.heartbeat("a", None, 0, 0),
        Err(GroupError::UnknownMember)
    );
}

#[test]
fn leaving_member_triggers_rebalance_and_others_rejoin() {
    let mut g = stable_pair();
    let (res, fx) = g.leave(&[("b".into(), None)], 10, &LIMITS);
    assert_eq!(res, vec![Ok(())]);
    assert!(joins(&fx).is_empty());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let (ans, fx) = g.join(
        req("a", &[("range", b"r")]),
        String::new(),
        true,
        11,
        &LIMITS,
    );
    assert_eq!(
        ans,
        Answer::Later {
            member_id: "a".into()
        }
    );
    let js = joins(&fx);
    assert_eq!(js.len(), 1);
    assert_eq!(js[0].1.generation_id, 3);
    assert_eq!(js[0].1.members.len(), 1);
    let (res, _) = g.leave(&[("nobody".into(), None)], 12, &LIMITS);
    assert_eq!(res, vec![Err(GroupError::UnknownMember)]);
}

#[test]
fn last_member_leaving_empties_the_group() {
    let mut g = stable_pair();
    let (res, fx) = g.leave(&[("a".into(), None), ("b".into(), None)], 10, &LIMITS);
    assert_eq!(res, vec![Ok(()), Ok(())]);
    assert_eq!(g.state, GroupState::Empty);
    assert!(fx.contains(&Effect::Persist));
    assert_eq!(g.generation_id, 3);
}

#[test]
fn expired_session_removes_member() {
    let mut g = stable_pair();
    assert_eq!(g.heartbeat("a", None, 2, 9_000), Ok(()));
    let fx = g.tick(10_004, &LIMITS);
    assert!(fx.is_empty());
    assert!(
        !g.members.contains_key("b"),
        "b's session (10s from t=3) expired"
    );
    assert_eq!(g.state, GroupState::PreparingRebalance);
}

#[test]
fn member_not_rejoining_is_dropped_at_rebalance_timeout() {
    let mut g = stable_pair();
    join_new(&mut g, range(), "c", 100);
    // a rejoins, b keeps heartbeating but never rejoins.
    g.join(
        req("a", &[("range", b"r")]),
        String::new(),
        true,
        200,
        &LIMITS,
    );
    assert_eq!(
        g.heartbeat("b", None, 2, 20_000),
        Err(GroupError::RebalanceInProgress)
    );
    assert!(g.tick(29_000, &LIMITS).is_empty());
    let fx = g.tick(30_100, &LIMITS);
    let js = joins(&fx);
    assert_eq!(js.len(), 2, "a and c get the new generation");
    assert!(!g.members.contains_key("b"));
    assert_eq!(g.state, GroupState::CompletingRebalance);
}

#[test]
fn join_in_completing_rebalance_cancels_pending_syncs() {
    let mut g = Group::new("g");
    let (a, _) = join_new(&mut g, range(), "a", 0);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let (ans, _) = g.sync(&a, None, 1, None, None, vec![], 1);
    // a is the leader: its own sync completes the generation.
    assert!(matches!(ans, Answer::Now(SyncResult { error: None, .. })));
    let (b, _) = join_new(&mut g, range(), "b", 2);
    let (_, fx) = g.join(req(&a, &[("range", b"r")]), String::new(), true, 3, &LIMITS);
    assert_eq!(joins(&fx).len(), 2);
    // b syncs first and waits; then a third member arrives before the leader syncs.
    let (ans, _) = g.sync(&b, None, 2, None, None, vec![], 4);
    assert_eq!(
        ans,
        Answer::Later {
            member_id: b.clone()
        }
    );
    let (_, fx) = join_new(&mut g, range(), "c", 5);
    assert_eq!(
        syncs(&fx),
        vec![(b, SyncResult::error(GroupError::RebalanceInProgress))]
    );
}

#[test]
fn unknown_member_and_session_timeout_checks() {
    let mut g = Group::new("g");
    let mut r = range();
    r.session_timeout_ms = 10;
    let (a, _) = g.join(r, "x".into(), true, 0, &LIMITS);
    assert_eq!(
        a,
        Answer::Now(JoinResult::error("", GroupError::InvalidSessionTimeout))
    );
    let (a, _) = g.join(
        req("ghost", &[("range", b"")]),
        "x".into(),
        true,
        0,
        &LIMITS,
    );
    assert_eq!(
        a,
        Answer::Now(JoinResult::error("ghost", GroupError::UnknownMember))
    );
}

#[test]
fn old_clients_join_without_member_id_round_trip() {
    let mut g = Group::new("g");
    let mut r = range();
    r.require_known_member_id = false;
    let (a, fx) = g.join(r, "m1".into(), false, 0, &LIMITS);
    assert_eq!(
        a,
        Answer::Later {
            member_id: "m1".into()
        }
    );
    assert_eq!(joins(&fx)[0].1.leader, "m1");
}

#[test]
fn protocol_selection_and_inconsistent_protocols() {
    let mut g = Group::new("g");
    join_new(
        &mut g,
        req("", &[("roundrobin", b""), ("range", b"")]),
        "a",
        0,
    );
    g.join(
        req("a", &[("roundrobin", b""), ("range", b"")]),
        String::new(),
        true,
        1,
        &LIMITS,
    );
    let (b, _) = join_new(
        &mut g,
        req("", &[("range", b""), ("roundrobin", b"")]),
        "b",
        2,
    );
    let (_, fx) = g.join(
        req("a", &[("roundrobin", b""), ("range", b"")]),
        String::new(),
        true,
        3,
        &LIMITS,
    );
    assert_eq!(joins(&fx).len(), 2);
    // One vote each: the tie goes to the first member's preference.
    assert_eq!(g.protocol_name.as_deref(), Some("roundrobin"));
    assert!(g.members.contains_key(&b));
    let (a, _) = g.join(req("", &[("sticky", b"")]), "c".into(), true, 4, &LIMITS);
    assert_eq!(
        a,
        Answer::Now(JoinResult::error("", GroupError::InconsistentProtocol))
    );
}

fn static_req(instance: &str, member_id: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..req(member_id, &[("range", b"r")])
    }
}

#[test]
fn static_member_rejoin_keeps_assignment_without_rebalance() {
    let mut g = Group::new("g");
    let (a, fx) = g.join(static_req("i1", ""), "s1".into(), true, 0, &LIMITS);
    assert_eq!(
        a,
        Answer::Later {
            member_id: "s1".into()
        }
    );
    assert_eq!(joins(&fx).len(), 1);
    g.sync(
        "s1",
        Some("i1"),
        1,
        None,
        None,
        vec![("s1".into(), b"P0".to_vec())],
        1,
    );
    let (b, _) = g.join(static_req("i2", ""), "s2".into(), true, 2, &LIMITS);
    assert_eq!(
        b,
        Answer::Later {
            member_id: "s2".into()
        }
    );
    g.join(static_req("i1", "s1"), String::new(), true, 3, &LIMITS);
    g.sync("s2", Some("i2"), 2, None, None, vec![], 4);
    g.sync(
        "s1",
        Some("i1"),
        2,
        None,
        None,
        vec![("s1".into(), b"A".to_vec()), ("s2".into(), b"B".to_vec())],
        5,
    );
    assert_eq!(g.state, GroupState::Stable);
    let generation = g.generation_id;
    // i2 restarts: it joins with no member id and replaces s2 without a rebalance.
    let (ans, fx) = g.join(static_req("i2", ""), "s2b".into(), false, 6, &LIMITS);
    let Answer::Now(r) = ans else { panic!() };
    assert_eq!(r.error, None);
    assert_eq!(r.member_id, "s2b");
    assert_eq!(r.generation_id, generation);
    assert_eq!(r.leader, "s1");
    assert_eq!(fx, vec![Effect::Persist]);
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.members["s2b"].assignment, b"B");
    let (ans, _) = g.sync("s2b", Some("i2"), generation, None, None, vec![], 7);
    assert!(matches!(ans, Answer::Now(SyncResult { ref assignment, .. }) if assignment == b"B"));
    // The old incarnation is fenced.
    assert_eq!(
        g.heartbeat("s2", Some("i2"), generation, 8),
        Err(GroupError::FencedInstanceId)
    );
    assert_eq!(g.heartbeat("s1", Some("i1"), generation, 8), Ok(()));
    let (res, _) = g.leave(&[("s2".into(), Some("i2".into()))], 9, &LIMITS);
    assert_eq!(res, vec![Err(GroupError::FencedInstanceId)]);
    // The leader restarting on v9 is told to skip the assignment.
    let (ans, _) = g.join(static_req("i1", ""), "s1b".into(), true, 10, &LIMITS);
    let Answer::Now(r) = ans else { panic!() };
    assert!(r.skip_assignment);
    assert_eq!(r.leader, "s1b");
    assert_eq!(r.members.len(), 2);
    assert_eq!(g.state, GroupState::Stable);
}

#[test]
fn static_member_leave_by_instance_id() {
    let mut g = Group::new("g");
    g.join(static_req("i1", ""), "s1".into(), true, 0, &LIMITS);
    let (res, fx) = g.leave(&[(String::new(), Some("i1".into()))], 1, &LIMITS);
    assert_eq!(res, vec![Ok(())]);
    assert_eq!(g.state, GroupState::Empty);
    assert!(fx.contains(&Effect::Persist));
    assert!(g.static_members.is_empty());
}

#[test]
fn initial_delay_waits_and_extends_for_new_members() {
    let limits = Limits {
        initial_rebalance_delay_ms: 3000,
        ..LIMITS
    };
    let mut g = Group::new("g");
    let mut r = range();
    r.require_known_member_id = false;
    let (_, fx) = g.join(r.clone(), "a".into(), true, 0, &limits);
    assert!(
        fx.is_empty(),
        "the first member waits for the initial delay"
    );
    assert_eq!(g.join_deadline_ms, Some(3000));
    g.join(r.clone(), "b".into(), true, 1000, &limits);
    assert!(g.tick(2999, &limits).is_empty());
    // b joined during the delay: it is extended once more.
    assert!(g.tick(3000, &limits).is_empty());
    assert_eq!(g.join_deadline_ms, Some(6000));
    let fx = g.tick(6000, &limits);
    assert_eq!(joins(&fx).len(), 2);
    assert_eq!(g.generation_id, 1);
}

#[test]
fn pending_member_expires() {
    let mut g = Group::new("g");
    let (a, _) = g.join(range(), "p".into(), true, 0, &LIMITS);
    assert!(matches!(
        a,
        Answer::Now(JoinResult {
            error: Some(GroupError::MemberIdRequired),
            ..
        })
    ));
    assert_eq!(g.pending_members.len(), 1);
    // A group whose only member is between its two joins must not be forgotten.
    assert!(!g.is_disposable());
    g.tick(10_001, &LIMITS);
    assert!(g.pending_members.is_empty());
    assert!(g.is_disposable());
}

#[test]
fn commit_validation() {
    let mut g = stable_pair();
    assert_eq!(g.validate_commit("a", None, 2, 10), Ok(()));
    assert_eq!(
        g.validate_commit("a", None, 1, 10),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_commit("x", None, 2, 10),
        Err(GroupError::UnknownMember)
    );
    assert_eq!(
        g.validate_commit("", None, -1, 10),
        Err(GroupError::UnknownMember)
    );
    let mut simple = Group::new("s");
    assert_eq!(simple.validate_commit("", None, -1, 0), Ok(()));
    // During PreparingRebalance the current generation may still commit (cooperative).
    join_new(&mut g, range(), "c", 11);
    assert_eq!(g.validate_commit("a", None, 2, 12), Ok(()));
}

#[test]
fn snapshot_restore_resumes_stable() {
    let g = stable_pair();
    let mut r = Group::new("g");
    r.restore(g.snapshot(), 1000);
    assert_eq!(r.state, GroupState::Stable);
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.heartbeat("b", None, 2, 1001), Ok(()));
    assert_eq!(r.members["b"].assignment, b"B");
}

#[test]
fn subscription_parsing() {
    // version 0, topics ["t1", "t22"], no user data
    let b = [
        0, 0, 0, 0, 0, 2, 0, 2, b't', b'1', 0, 3, b't', b'2', b'2', 0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(
        parse_subscription(&b),
        Some(vec!["t1".into(), "t22".into()])
    );
    assert_eq!(parse_subscription(&b[..7]), None);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Join { who: u8, fresh: bool, proto: u8 },
        Sync { who: u8 },
        Heartbeat { who: u8 },
        Leave { who: u8 },
        Tick { advance: u16 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, any::<bool>(), 0u8..2).prop_map(|(who, fresh, proto)| Op::Join {
                who,
                fresh,
                proto
            }),
            (0u8..4).prop_map(|who| Op::Sync { who }),
            (0u8..4).prop_map(|who| Op::Heartbeat { who }),
            (0u8..4).prop_map(|who| Op::Leave { who }),
            (0u16..20_000).prop_map(|advance| Op::Tick { advance }),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_under_any_sequence(ops in proptest::collection::vec(op(), 1..80)) {
            let mut g = Group::new("g");
            let mut now = 0i64;
            let mut counter = 0;
            for o in ops {
                now += 1;
                let ids: Vec<String> = g.members.keys().cloned().collect();
                let pick = |w: u8| ids.get(w as usize % ids.len().max(1)).cloned().unwrap_or_default();
                match o {
                    Op::Join { who, fresh, proto } => {
                        counter += 1;
                        let p: &[(&str, &[u8])] = if proto == 0 { &[("range", b"")] } else { &[("range", b""), ("roundrobin", b"")] };
                        let id = if fresh { String::new() } else { pick(who) };
                        let mut r = req(&id, p);
                        r.group_instance_id = (who % 2 == 0).then(|| format!("i{who}"));
                        let _ = g.join(r, format!("m{counter}"), true, now, &LIMITS);
                    }
                    Op::Sync { who } => {
                        let id = pick(who);
                        let generation = g.generation_id;
                        let a = ids.iter().map(|m| (m.clone(), m.as_bytes().to_vec())).collect();
                        let _ = g.sync(&id, None, generation, None, None, a, now);
                    }
                    Op::Heartbeat { who } => {
                        let generation = g.generation_id;
                        let _ = g.heartbeat(&pick(who), None, generation, now);
                    }
                    Op::Leave { who } => {
                        let _ = g.leave(&[(pick(who), None)], now, &LIMITS);
                    }
                    Op::Tick { advance } => {
                        now += i64::from(advance);
                        let _ = g.tick(now, &LIMITS);
                    }
                }
                if !g.members.is_empty() && g.state != GroupState::PreparingRebalance {
                    prop_assert!(g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)));
                }
                if g.state == GroupState::Empty {
                    prop_assert!(g.members.is_empty());
                }
                if g.state == GroupState::Stable {
                    prop_assert!(g.members.values().all(|m| !m.awaiting_join && !m.awaiting_sync));
                }
                for (inst, id) in &g.static_members {
                    prop_assert_eq!(g.members[id].group_instance_id.as_deref(), Some(inst.as_str()));
                }
            }
        }
    }
}

#[test]
fn transactional_commits_of_a_past_generation_are_refused_as_kafka_refuses_them() {
    let mut g = stable_pair();
    // The current members at generation 2.
    assert_eq!(g.validate_txn_commit("a", None, 2), Ok(()));
    assert_eq!(g.validate_txn_commit("b", None, 2), Ok(()));
    // A zombie of an older generation, or a member that is gone: refused (KIP-447).
    assert_eq!(
        g.validate_txn_commit("a", None, 1),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_txn_commit("gone", None, 2),
        Err(GroupError::UnknownMember)
    );
    // No member information (TxnOffsetCommit before v3): accepted even with members.
    assert_eq!(g.validate_txn_commit("", None, -1), Ok(()));
    // Mid-rebalance the current generation may still commit in its transaction (no
    // REBALANCE_IN_PROGRESS for transactional commits), the previous one may not.
    join_new(&mut g, range(), "c", 6);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.validate_txn_commit("a", None, 2), Ok(()));
    assert_eq!(
        g.validate_txn_commit("a", None, 1),
        Err(GroupError::IllegalGeneration)
    );
}
