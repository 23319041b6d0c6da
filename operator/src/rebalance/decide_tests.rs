//! Tests of the KafkaRebalance state machine.
use super::*;
use crate::crd::RebalancePhase as P;

fn pm(topic: &str, partition: i32, from: &[i32], to: &[i32]) -> PartitionMove {
    PartitionMove {
        topic: topic.into(),
        partition,
        from: from.to_vec(),
        to: to.to_vec(),
    }
}

fn at(topic: &str, partition: i32, replicas: &[i32]) -> Placement {
    Placement {
        topic: topic.into(),
        partition,
        replicas: replicas.to_vec(),
    }
}

#[test]
fn a_new_rebalance_proposes_and_waits_while_the_cluster_is_busy() {
    assert_eq!(
        intent(None, &Command::None, false, None).intent,
        Intent::Propose
    );
    assert_eq!(
        intent(None, &Command::None, false, Some("scaling down")).intent,
        Intent::Wait("scaling down".into())
    );
    // A proposal waits for approval; approval starts the moves, unless the cluster is busy.
    assert_eq!(
        intent(Some(P::ProposalReady), &Command::None, false, None).intent,
        Intent::Idle
    );
    assert_eq!(
        intent(Some(P::ProposalReady), &Command::Approve, false, None).intent,
        Intent::Execute { approving: true }
    );
    assert_eq!(
        intent(Some(P::ProposalReady), &Command::Approve, false, Some("x")).intent,
        Intent::Wait("x".into())
    );
    // Editing the spec before approval or refreshing makes a new proposal.
    assert_eq!(
        intent(Some(P::ProposalReady), &Command::None, true, None).intent,
        Intent::Propose
    );
    assert_eq!(
        intent(Some(P::Ready), &Command::Refresh, false, None).intent,
        Intent::Propose
    );
    assert_eq!(
        intent(Some(P::NotReady), &Command::None, true, None).intent,
        Intent::Propose
    );
}

#[test]
fn approving_twice_or_editing_while_rebalancing_is_refused_and_changes_nothing() {
    let twice = intent(Some(P::Rebalancing), &Command::Approve, false, None);
    assert_eq!(twice.intent, Intent::Execute { approving: false });
    assert_eq!(
        twice.warning.map(|w| w.0),
        Some(rebalance_reason::ALREADY_APPROVED)
    );
    let edited = intent(Some(P::Rebalancing), &Command::None, true, None);
    assert_eq!(edited.intent, Intent::Execute { approving: false });
    assert_eq!(
        edited.warning.map(|w| w.0),
        Some(rebalance_reason::SPEC_CHANGE_REFUSED)
    );
    let refresh = intent(Some(P::Rebalancing), &Command::Refresh, false, None);
    assert_eq!(refresh.intent, Intent::Execute { approving: false });
    assert!(refresh.warning.is_some());
    assert_eq!(
        intent(Some(P::Rebalancing), &Command::Stop, true, None).intent,
        Intent::Stop
    );
    let done = intent(Some(P::Ready), &Command::Approve, false, None);
    assert_eq!(done.intent, Intent::Idle);
    assert_eq!(
        done.warning.map(|w| w.0),
        Some(rebalance_reason::ALREADY_APPROVED)
    );
    let odd = intent(
        Some(P::ProposalReady),
        &Command::parse(Some("go")),
        false,
        None,
    );
    assert_eq!(odd.intent, Intent::Idle);
    assert_eq!(
        odd.warning.map(|w| w.0),
        Some(rebalance_reason::UNKNOWN_ANNOTATION)
    );
    // A stopped rebalance resumes on approval.
    assert_eq!(
        intent(Some(P::Stopped), &Command::Approve, false, None).intent,
        Intent::Execute { approving: true }
    );
}

#[test]
fn progress_is_derived_from_the_brokers_so_a_restart_resumes_it() {
    let moves = vec![
        pm("t", 0, &[0], &[1]),
        pm("t", 1, &[0], &[2]),
        pm("t", 2, &[0], &[1]),
        pm("t", 3, &[0, 1], &[2, 1]),
        pm("gone", 0, &[0], &[1]),
    ];
    // t-0 done, t-1 reassigning, t-2 and t-3 to start; `gone` was deleted.
    let placements = vec![
        at("t", 0, &[1]),
        at("t", 1, &[2, 0]),
        at("t", 2, &[0]),
        at("t", 3, &[0, 1]),
    ];
    let ongoing: BTreeMap<(String, i32), Vec<i32>> =
        [(("t".to_string(), 1), vec![2])].into_iter().collect();
    let p = progress(&moves, &placements, &ongoing, 2);
    assert_eq!(p.done, 2);
    assert_eq!(p.in_flight, vec![("t".to_string(), 1)]);
    assert_eq!(p.pending, 2);
    // One slot left of two.
    assert_eq!(p.start.len(), 1);
    assert_eq!(p.start[0].to, vec![1]);
    assert!(!p.finished());
    let all_done = vec![
        at("t", 0, &[1]),
        at("t", 1, &[2]),
        at("t", 2, &[1]),
        at("t", 3, &[2, 1]),
    ];
    let p = progress(&moves, &all_done, &BTreeMap::new(), 2);
    assert!(p.finished());
    assert_eq!(p.done, 5);
}

#[test]
fn a_proposal_is_stale_once_a_partition_moved_elsewhere() {
    let moves = vec![pm("t", 0, &[0], &[1])];
    assert_eq!(stale(&moves, &[at("t", 0, &[0])]), None);
    assert_eq!(stale(&moves, &[at("t", 0, &[1])]), None);
    assert!(stale(&moves, &[at("t", 0, &[2])]).is_some());
}

#[test]
fn a_draining_scale_down_holds_back_a_rebalance_but_a_waiting_one_does_not() {
    use crate::cluster::build::fixtures::ClusterFixture;
    use crate::crd::{ConditionStatus, KafkaClusterStatus, ScaleDownPhase, ScaleDownStatus};
    let cluster = |phase: Option<ScaleDownPhase>| {
        let mut c = ClusterFixture::new("orders", 3).0;
        c.status = Some(KafkaClusterStatus {
            conditions: vec![crate::conditions::condition(
                condition_type::READY,
                ConditionStatus::True,
                "Ready",
                "",
                Some(1),
            )],
            scale_down: phase.map(|phase| ScaleDownStatus {
                phase,
                brokers: vec![3, 4],
                started_at: "2027-01-01T00:00:00Z".into(),
                partitions_remaining: 2,
                message: None,
                blocked_generation: None,
                throttled_topics: Vec::new(),
            }),
            ..KafkaClusterStatus::default()
        });
        c
    };
    assert_eq!(cluster_busy(&cluster(None)), None);
    for phase in [
        ScaleDownPhase::Draining,
        ScaleDownPhase::MovingVoters,
        ScaleDownPhase::Unregistering,
        ScaleDownPhase::Shrinking,
    ] {
        assert_eq!(
            cluster_busy(&cluster(Some(phase))).as_deref(),
            Some("KafkaCluster orders is scaling down"),
            "{phase:?}"
        );
    }
    // A scale-down waiting for a rebalance (or blocked, or done) must not hold the rebalance
    // back in turn: neither would ever move.
    for phase in [
        ScaleDownPhase::Waiting,
        ScaleDownPhase::Blocked,
        ScaleDownPhase::Done,
    ] {
        assert_eq!(cluster_busy(&cluster(Some(phase))), None, "{phase:?}");
    }
}
