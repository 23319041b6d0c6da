use super::*;
use crate::cluster::drain::Placement;

fn at(topic: &str, partition: i32, replicas: &[i32]) -> Placement {
    Placement {
        topic: topic.into(),
        partition,
        replicas: replicas.to_vec(),
    }
}

fn layout(placements: Vec<Placement>, brokers: &[i32]) -> Layout {
    Layout {
        placements,
        brokers: brokers.iter().copied().collect(),
        racks: BTreeMap::new(),
    }
}

const T0: u64 = 1_800_000_000;

fn time(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

struct Case {
    layout: Layout,
    ongoing: BTreeMap<(String, i32), Vec<i32>>,
    disks: BTreeMap<i32, Disk>,
    voters: Vec<i32>,
    previous: Option<ScaleDownStatus>,
    generation: i64,
    now: SystemTime,
}

impl Case {
    fn new(layout: Layout) -> Self {
        Self {
            layout,
            ongoing: BTreeMap::new(),
            disks: BTreeMap::new(),
            voters: vec![0, 1, 2],
            previous: None,
            generation: 4,
            now: time(T0),
        }
    }

    /// 5 brokers → 3.
    fn decide(&self) -> Decision {
        decide(&Input {
            brokers: 3,
            replicas: 5,
            layout: &self.layout,
            ongoing: &self.ongoing,
            disks: &self.disks,
            voters: &self.voters,
            previous: self.previous.as_ref(),
            generation: Some(self.generation),
            now: self.now,
            timeout: Duration::from_secs(600),
        })
    }
}

#[test]
fn a_drain_starts_by_moving_the_departing_replicas_a_bounded_number_at_a_time() {
    let mut placements: Vec<Placement> = (0..12).map(|p| at("t", p, &[3, 0])).collect();
    placements.push(at("ok", 0, &[0, 1]));
    let case = Case::new(layout(placements, &[0, 1, 2, 3, 4]));
    let d = case.decide();
    let Action::Reassign { start } = &d.action else {
        panic!("{d:?}");
    };
    assert_eq!(start.len(), MAX_IN_FLIGHT);
    assert!(
        start.iter().all(|m| !m.to.contains(&3) && m.to[0] == 0),
        "{start:?}"
    );
    assert_eq!(d.status.phase, ScaleDownPhase::Draining);
    assert_eq!(d.status.brokers, vec![3, 4]);
    assert_eq!(d.status.partitions_remaining, 12);
    assert_eq!(d.status.started_at, rfc3339(time(T0)));

    // Next reconcile: ten in flight, the other two wait for room; the start time is kept.
    let mut next = Case::new(case.layout.clone());
    next.previous = Some(d.status.clone());
    next.now = time(T0 + 30);
    for m in start {
        next.ongoing
            .insert((m.topic.clone(), m.partition), m.to.clone());
    }
    let d2 = next.decide();
    assert_eq!(d2.action, Action::Reassign { start: Vec::new() });
    assert_eq!(d2.status.started_at, d.status.started_at);
    assert!(
        d2.status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("10 in flight")
    );
}

#[test]
fn a_partition_with_more_replicas_than_staying_brokers_blocks_and_cancels_the_drain() {
    let mut case = Case::new(layout(
        vec![at("rf4", 0, &[0, 1, 2, 3]), at("t", 0, &[4])],
        &[0, 1, 2, 3, 4],
    ));
    // A reassignment the drain started earlier is undone.
    case.ongoing.insert(("t".into(), 0), vec![0]);
    let d = case.decide();
    assert_eq!(
        d.action,
        Action::Blocked {
            cancel: vec![("t".into(), 0)]
        }
    );
    assert_eq!(d.status.phase, ScaleDownPhase::Blocked);
    let msg = d.status.message.unwrap_or_default();
    assert!(
        msg.contains("rf4-0 has 4 replicas but only 3 brokers"),
        "{msg}"
    );
    // Not sticky: lowering the topic's replication factor lets the drain start.
    assert_eq!(d.status.blocked_generation, None);
}

#[test]
fn a_drain_past_its_deadline_is_cancelled_and_stays_blocked_until_the_spec_changes() {
    let mut case = Case::new(layout(vec![at("t", 0, &[3, 0])], &[0, 1, 2, 3, 4]));
    case.ongoing.insert(("t".into(), 0), vec![0, 1]);
    case.previous = Some(ScaleDownStatus {
        phase: ScaleDownPhase::Draining,
        brokers: vec![3, 4],
        started_at: rfc3339(time(T0)),
        partitions_remaining: 1,
        message: None,
        blocked_generation: None,
        throttled_topics: vec!["t".into()],
    });
    case.now = time(T0 + 601);
    let d = case.decide();
    assert_eq!(
        d.action,
        Action::Blocked {
            cancel: vec![("t".into(), 0)]
        }
    );
    assert_eq!(d.status.blocked_generation, Some(4));
    assert_eq!(d.status.throttled_topics, vec!["t".to_string()]);
    assert!(
        d.status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("did not finish within 600 s")
    );

    // Same generation, reassignment cancelled: still blocked, nothing started.
    let mut again = Case::new(case.layout.clone());
    again.previous = Some(d.status.clone());
    again.now = time(T0 + 700);
    let d2 = again.decide();
    assert_eq!(d2.action, Action::Blocked { cancel: vec![] });
    assert_eq!(d2.status.blocked_generation, Some(4));

    // The spec changed (new generation): the drain starts over with a new deadline.
    again.generation = 5;
    let d3 = again.decide();
    assert!(matches!(d3.action, Action::Reassign { ref start } if start.len() == 1));
    assert_eq!(d3.status.started_at, rfc3339(time(T0 + 700)));
}

#[test]
fn a_drain_that_would_fill_a_staying_broker_is_refused() {
    let mut case = Case::new(layout(
        vec![at("big", 0, &[3]), at("big", 1, &[4])],
        &[0, 1, 2, 3, 4],
    ));
    let disk = |usable, sizes: &[((&str, i32), i64)]| Disk {
        sizes: sizes
            .iter()
            .map(|((t, p), s)| (((*t).to_string(), *p), *s))
            .collect(),
        usable: Some(usable),
        total: Some(1000),
    };
    case.disks.insert(3, disk(0, &[(("big", 0), 500)]));
    case.disks.insert(4, disk(0, &[(("big", 1), 500)]));
    for b in 0..3 {
        case.disks.insert(b, disk(550, &[]));
    }
    let d = case.decide();
    assert!(matches!(d.action, Action::Blocked { .. }), "{d:?}");
    let msg = d.status.message.unwrap_or_default();
    assert!(
        msg.contains("would receive 500 bytes with 550 bytes free of 1000"),
        "{msg}"
    );
    // With room, the same drain starts.
    for b in 0..3 {
        case.disks.insert(b, disk(700, &[]));
    }
    assert!(matches!(case.decide().action, Action::Reassign { ref start } if start.len() == 2));
}

fn shrink_to_one(layout: &Layout, voters: &[i32]) -> Decision {
    decide(&Input {
        brokers: 1,
        replicas: 5,
        layout,
        ongoing: &BTreeMap::new(),
        disks: &BTreeMap::new(),
        voters,
        previous: None,
        generation: Some(1),
        now: time(T0),
        timeout: Duration::from_secs(600),
    })
}

#[test]
fn once_drained_the_voters_move_then_the_brokers_are_unregistered_then_the_set_shrinks() {
    // 5 → 1 brokers: voters 0,1,2 must shrink to 0 first.
    let drained = layout(vec![at("t", 0, &[0])], &[0, 1, 2, 3, 4]);
    let d = shrink_to_one(&drained, &[0, 1, 2]);
    assert_eq!(d.action, Action::MoveVoters);
    assert_eq!(d.status.phase, ScaleDownPhase::MovingVoters);
    let d = shrink_to_one(&drained, &[0]);
    assert_eq!(
        d.action,
        Action::Unregister {
            ids: vec![1, 2, 3, 4]
        }
    );
    let d = shrink_to_one(&layout(vec![at("t", 0, &[0])], &[0]), &[0]);
    assert_eq!(d.action, Action::Shrink);
    assert_eq!(d.status.phase, ScaleDownPhase::Shrinking);
}

#[test]
fn a_reassignment_still_naming_a_departing_broker_is_waited_for() {
    let mut case = Case::new(layout(vec![at("t", 0, &[0, 1])], &[0, 1, 2, 3, 4]));
    case.ongoing.insert(("t".into(), 0), vec![0, 4]);
    let d = case.decide();
    assert_eq!(d.action, Action::Reassign { start: vec![] });
    assert!(
        d.status
            .message
            .unwrap_or_default()
            .contains("waiting for 1")
    );
}

#[test]
fn a_registered_broker_above_the_statefulset_is_removed_too() {
    // The StatefulSet is at 5 but broker 5 (from an earlier size) is still registered.
    let case = Case::new(layout(vec![at("t", 0, &[0])], &[0, 1, 2, 3, 4, 5]));
    let mut c = case;
    c.voters = vec![0, 1, 2];
    let d = c.decide();
    assert_eq!(d.action, Action::Unregister { ids: vec![3, 4, 5] });
}

#[test]
fn a_large_disk_needs_a_gibibyte_free_not_a_tenth() {
    let m = Move {
        topic: "t".into(),
        partition: 0,
        from: vec![3],
        to: vec![0],
    };
    let tb: i64 = 1 << 40;
    let disk = |usable| Disk {
        sizes: [(("t".to_string(), 0), 1_000_000)].into_iter().collect(),
        usable: Some(usable),
        total: Some(tb),
    };
    let disks = |usable| BTreeMap::from([(0, disk(usable)), (3, disk(0))]);
    assert_eq!(
        disk_shortfall(std::slice::from_ref(&m), &disks(2 << 30)),
        None
    );
    assert!(disk_shortfall(&[m], &disks(1 << 30)).is_some());
}

#[test]
fn disk_checks_skip_brokers_that_did_not_report() {
    let m = Move {
        topic: "t".into(),
        partition: 0,
        from: vec![3],
        to: vec![0],
    };
    assert_eq!(disk_shortfall(&[m], &BTreeMap::new()), None);
}

#[test]
fn a_partition_mid_reassignment_counts_with_its_target_replicas_not_the_union() {
    // The scale-up balance moves t-0 from [0, 1, 2] to [2, 3, 4]: the layout lists all five.
    let mut case = Case::new(layout(
        vec![at("t", 0, &[0, 1, 2, 3, 4]), at("u", 0, &[4])],
        &[0, 1, 2, 3, 4],
    ));
    case.ongoing.insert(("t".into(), 0), vec![2, 3, 4]);
    let d = case.decide();
    let Action::Reassign { start } = &d.action else {
        panic!("an RF=3 partition fits on 3 brokers: {d:?}");
    };
    // u-0 starts; t-0 waits for its reassignment to finish before it is planned.
    assert_eq!(start.len(), 1, "{start:?}");
    assert_eq!(start[0].topic, "u");
    assert_eq!(d.status.phase, ScaleDownPhase::Draining);
    assert_eq!(d.status.partitions_remaining, 2);
}
