use super::*;

const SETTINGS: Settings = Settings {
    session_timeout_ms: 45_000,
    heartbeat_interval_ms: 5_000,
    max_size: 3,
};

fn topic_id(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}

fn topics() -> BTreeMap<String, TopicMeta> {
    [("orders", 1u8, 6), ("payments", 2, 3), ("other", 3, 2)]
        .into_iter()
        .map(|(n, id, p)| {
            (
                n.to_string(),
                TopicMeta {
                    id: topic_id(id),
                    partitions: p,
                },
            )
        })
        .collect()
}

fn join(member: &str, subs: &[&str]) -> Heartbeat {
    Heartbeat {
        member_id: member.into(),
        member_epoch: JOIN_EPOCH,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(subs.iter().map(ToString::to_string).collect()),
        owned: Some(Assignment::new()),
        client_member_id: true,
        ..Default::default()
    }
}

fn beat(member: &str, epoch: i32, owned: Option<&Assignment>) -> Heartbeat {
    Heartbeat {
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: owned.cloned(),
        client_member_id: true,
        ..Default::default()
    }
}

fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

fn hb(g: &mut ConsumerGroup, req: Heartbeat, now: i64) -> HeartbeatAnswer {
    g.heartbeat(req, &topics(), "generated".into(), now, &SETTINGS)
        .expect("heartbeat accepted")
}

/// No partition is held (assigned or pending revocation) by two members at once.
fn assert_exclusive(g: &ConsumerGroup) {
    let mut seen = BTreeSet::new();
    for m in g.members.values() {
        for (t, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
            for p in ps {
                assert!(seen.insert((*t, *p)), "{t}-{p} held twice: {g:#?}");
            }
        }
    }
}

#[test]
fn a_single_member_gets_every_subscribed_partition() {
    let mut g = ConsumerGroup::default();
    let a = hb(&mut g, join("a", &["orders", "payments"]), 0);
    assert_eq!(a.member_epoch, 1);
    let asg = a.assignment.expect("assignment on join");
    assert_eq!(count(&asg), 9);
    assert!(
        !asg.contains_key(&topic_id(3)),
        "unsubscribed topic assigned"
    );
    assert_eq!(g.state_name(), "Stable");
}

#[test]
fn a_second_member_waits_until_the_first_revokes() {
    let mut g = ConsumerGroup::default();
    let a = hb(&mut g, join("a", &["orders"]), 0);
    let a_owned = a.assignment.unwrap();
    assert_eq!(count(&a_owned), 6);
    // b joins: the group epoch moves, b gets nothing yet (a still holds everything).
    let b = hb(&mut g, join("b", &["orders"]), 1);
    assert_eq!(b.member_epoch, 2);
    assert_eq!(count(b.assignment.as_ref().unwrap()), 0);
    assert_eq!(g.state_name(), "Reconciling");
    // a is told to keep three: it stays at epoch 1 until it has revoked.
    let a2 = hb(&mut g, beat("a", 1, Some(&a_owned)), 2);
    assert_eq!(a2.member_epoch, 1);
    let kept = a2.assignment.unwrap();
    assert_eq!(count(&kept), 3);
    assert_exclusive(&g);
    // Still owning the revoked ones: nothing moves.
    let a3 = hb(&mut g, beat("a", 1, Some(&a_owned)), 3);
    assert_eq!(a3.member_epoch, 1);
    // Revoked: a moves to epoch 2; then b receives the released three.
    let a4 = hb(&mut g, beat("a", 1, Some(&kept)), 4);
    assert_eq!(a4.member_epoch, 2);
    let b2 = hb(&mut g, beat("b", 2, Some(&Assignment::new())), 5);
    assert_eq!(count(b2.assignment.as_ref().unwrap()), 3);
    assert_exclusive(&g);
    assert_eq!(g.state_name(), "Stable");
}

#[test]
fn a_wrong_epoch_is_fenced_and_a_lost_response_is_forgiven() {
    let mut g = ConsumerGroup::default();
    let a = hb(&mut g, join("a", &["orders"]), 0);
    let owned = a.assignment.unwrap();
    let err = g
        .heartbeat(beat("a", 7, None), &topics(), String::new(), 1, &SETTINGS)
        .unwrap_err();
    assert_eq!(err.error, GroupError::FencedMemberEpoch);
    // b joins; a revokes and moves to epoch 2.
    hb(&mut g, join("b", &["orders"]), 2);
    let kept = hb(&mut g, beat("a", 1, Some(&owned)), 2)
        .assignment
        .unwrap();
    assert_eq!(hb(&mut g, beat("a", 1, Some(&kept)), 2).member_epoch, 2);
    // Its answer was lost: the previous epoch (1) with owned partitions within the
    // assignment is accepted.
    let ok = g.heartbeat(
        beat("a", 1, Some(&kept)),
        &topics(),
        String::new(),
        2,
        &SETTINGS,
    );
    assert_eq!(ok.unwrap().member_epoch, 2);
    let unknown = g
        .heartbeat(beat("zz", 1, None), &topics(), String::new(), 3, &SETTINGS)
        .unwrap_err();
    assert_eq!(unknown.error, GroupError::UnknownMember);
}

#[test]
fn leaving_and_expiring_free_the_partitions() {
    let mut g = ConsumerGroup::default();
    hb(&mut g, join("a", &["orders"]), 0);
    hb(&mut g, join("b", &["orders"]), 0);
    let left = hb(&mut g, beat("a", LEAVE_EPOCH, None), 1);
    assert_eq!(left.member_epoch, LEAVE_EPOCH);
    assert!(!g.members.contains_key("a"));
    let b = hb(&mut g, beat("b", 2, Some(&Assignment::new())), 2);
    assert_eq!(count(&b.assignment.unwrap()), 6);
    // b stops heartbeating: it expires at its session timeout.
    assert_eq!(g.tick(2 + 44_999, &SETTINGS), 0);
    assert_eq!(g.tick(2 + 45_000, &SETTINGS), 1);
    assert!(g.is_empty());
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_removed() {
    let mut g = ConsumerGroup::default();
    let a = hb(&mut g, join("a", &["orders"]), 0);
    let owned = a.assignment.unwrap();
    hb(&mut g, join("b", &["orders"]), 1);
    hb(&mut g, beat("a", 1, Some(&owned)), 2);
    assert_eq!(g.members["a"].state, MemberState::UnrevokedPartitions);
    // It keeps heartbeating but never revokes: fenced at the rebalance timeout.
    hb(&mut g, beat("a", 1, Some(&owned)), 20_000);
    assert_eq!(g.tick(2 + 30_000, &SETTINGS), 1);
    assert!(!g.members.contains_key("a"));
}

#[test]
fn range_gives_contiguous_ranges_and_uniform_balances() {
    let mut g = ConsumerGroup::default();
    let mut req = join("a", &["orders"]);
    req.server_assignor = Some("range".into());
    hb(&mut g, req, 0);
    let mut req = join("b", &["orders"]);
    req.server_assignor = Some("range".into());
    hb(&mut g, req, 0);
    assert_eq!(g.assignor, "range");
    let ta: Vec<i32> = g.target["a"][&topic_id(1)].iter().copied().collect();
    let tb: Vec<i32> = g.target["b"][&topic_id(1)].iter().copied().collect();
    assert_eq!(ta, vec![0, 1, 2]);
    assert_eq!(tb, vec![3, 4, 5]);

    let mut u = ConsumerGroup::default();
    for m in ["a", "b", "c"] {
        hb(&mut u, join(m, &["orders", "payments"]), 0);
    }
    assert_eq!(u.assignor, "uniform");
    let counts: Vec<usize> = u.target.values().map(count).collect();
    assert_eq!(counts, vec![3, 3, 3]);
}

#[test]
fn uniform_keeps_partitions_where_they_are() {
    let mut g = ConsumerGroup::default();
    for m in ["a", "b"] {
        hb(&mut g, join(m, &["orders"]), 0);
    }
    let before = g.target.clone();
    hb(&mut g, join("c", &["orders"]), 1);
    // Each of a and b gives up one partition and keeps the other two.
    for m in ["a", "b"] {
        let kept = g.target[m][&topic_id(1)]
            .intersection(&before[m][&topic_id(1)])
            .count();
        assert_eq!(kept, 2, "{m}: {:?} -> {:?}", before[m], g.target[m]);
    }
}

#[test]
fn a_regex_subscription_follows_new_topics() {
    let mut g = ConsumerGroup::default();
    let mut req = join("a", &[]);
    req.subscribed_topic_names = None;
    req.subscribed_topic_regex = Some("or.*".into());
    let a = hb(&mut g, req, 0);
    assert_eq!(
        count(&a.assignment.unwrap()),
        6,
        "only `orders` matches the whole name"
    );
    let mut more = topics();
    more.insert(
        "orders-eu".into(),
        TopicMeta {
            id: topic_id(9),
            partitions: 2,
        },
    );
    let a2 = g
        .heartbeat(beat("a", 1, None), &more, String::new(), 1, &SETTINGS)
        .unwrap();
    assert_eq!(a2.member_epoch, 2);
    assert_eq!(count(&a2.assignment.unwrap()), 8);
}

#[test]
fn a_static_member_is_replaced_by_its_next_incarnation() {
    let mut g = ConsumerGroup::default();
    let mut req = join("a1", &["orders"]);
    req.instance_id = Some("host-1".into());
    let a = hb(&mut g, req.clone(), 0);
    let owned = a.assignment.unwrap();
    // Another incarnation while the first is active: refused.
    let mut again = req.clone();
    again.member_id = "a2".into();
    let err = g
        .heartbeat(again.clone(), &topics(), String::new(), 1, &SETTINGS)
        .unwrap_err();
    assert_eq!(err.error, GroupError::UnreleasedInstanceId);
    // The first leaves for a moment (-2): the second takes over its partitions and epoch.
    let mut leave = beat("a1", STATIC_LEAVE_EPOCH, None);
    leave.instance_id = Some("host-1".into());
    hb(&mut g, leave, 2);
    let epoch_before = g.group_epoch;
    let a2 = hb(&mut g, again, 3);
    assert_eq!(a2.assignment.unwrap(), owned);
    assert_eq!(a2.member_epoch, 1);
    assert_eq!(
        g.group_epoch, epoch_before,
        "no rebalance for a static rejoin"
    );
    assert!(!g.members.contains_key("a1"));
}

#[test]
fn bad_requests_are_refused_with_kafkas_errors() {
    let mut g = ConsumerGroup::default();
    let mut r = join("a", &["orders"]);
    r.server_assignor = Some("sticky-deluxe".into());
    let e = g
        .heartbeat(r, &topics(), String::new(), 0, &SETTINGS)
        .unwrap_err();
    assert_eq!(e.error, GroupError::UnsupportedAssignor);
    let mut r = join("a", &["orders"]);
    r.rebalance_timeout_ms = -1;
    let e = g
        .heartbeat(r, &topics(), String::new(), 0, &SETTINGS)
        .unwrap_err();
    assert_eq!(e.error, GroupError::InvalidRequest);
    let mut r = join("a", &[]);
    r.subscribed_topic_names = None;
    let e = g
        .heartbeat(r, &topics(), String::new(), 0, &SETTINGS)
        .unwrap_err();
    assert_eq!(e.error, GroupError::InvalidRequest);
    let mut r = join("a", &[]);
    r.subscribed_topic_regex = Some("(".into());
    let e = g
        .heartbeat(r, &topics(), String::new(), 0, &SETTINGS)
        .unwrap_err();
    assert_eq!(e.error, GroupError::InvalidRegularExpression);
    for m in ["a", "b", "c"] {
        hb(&mut g, join(m, &["orders"]), 0);
    }
    let e = g
        .heartbeat(
            join("d", &["orders"]),
            &topics(),
            String::new(),
            0,
            &SETTINGS,
        )
        .unwrap_err();
    assert_eq!(e.error, GroupError::GroupMaxSizeReached);
    assert!(g.members.len() == 3);
}

#[test]
fn a_v0_member_gets_its_id_from_the_coordinator() {
    let mut g = ConsumerGroup::default();
    let mut r = join("", &["orders"]);
    r.client_member_id = false;
    let a = g
        .heartbeat(r, &topics(), "coordinator-made".into(), 0, &SETTINGS)
        .unwrap();
    assert_eq!(a.member_id, "coordinator-made");
    assert!(g.validate_member("coordinator-made", 1).is_ok());
    assert_eq!(
        g.validate_member("coordinator-made", 0),
        Err(GroupError::StaleMemberEpoch)
    );
}

#[test]
fn the_persisted_group_round_trips_and_restarts_its_timers() {
    let mut g = ConsumerGroup::default();
    let a = hb(&mut g, join("a", &["orders"]), 0);
    hb(&mut g, join("b", &["orders"]), 0);
    hb(&mut g, beat("a", 1, a.assignment.as_ref()), 0);
    assert_eq!(g.members["a"].state, MemberState::UnrevokedPartitions);
    let json = serde_json::to_vec(&g).unwrap();
    let back: ConsumerGroup = serde_json::from_slice(&json).unwrap();
    let back = back.restored(100_000);
    assert_eq!(back.members["a"].last_heartbeat_ms, 100_000);
    assert_eq!(back.members["a"].revocation_deadline_ms, Some(130_000));
    assert_eq!(back.members["b"].revocation_deadline_ms, None);
    let mut expected = g.clone();
    for m in expected.members.values_mut() {
        m.last_heartbeat_ms = 100_000;
    }
    expected
        .members
        .get_mut("a")
        .unwrap()
        .revocation_deadline_ms = Some(130_000);
    assert_eq!(back, expected);
}
