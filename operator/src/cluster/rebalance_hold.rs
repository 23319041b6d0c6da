//! Scale-down × KafkaRebalance (pure): two movers of the same partitions never run at once,
//! and neither waits for the other for ever. Whichever started first goes on:
//! - a KafkaRebalance that is executing its moves (`Rebalancing`) holds back a scale-down that
//!   has not started draining: the scale-down reports `Waiting` (Reconciling reason
//!   `RebalanceInProgress`), the StatefulSet keeps its size and no drain reassignment starts
//!   until the rebalance is Ready, Stopped or NotReady;
//! - a scale-down that started draining holds back the rebalance instead
//!   ([`crate::rebalance::decide::cluster_busy`] lists its phases; `Waiting` is not one of them,
//!   which is what keeps the two from waiting on each other).
//!
//! The scale-down step asks [`hold`] after [`super::scale_down::decide`], so the waiting status
//! carries what the drain will do. While the rebalance moves partitions, a partition being
//! reassigned lists its old and new replicas together, so `decide` can see a replication factor
//! the topic does not have and call the scale-down impossible: that verdict waits too, and is
//! made again on the layout the rebalance leaves. Only a drain that already ran out of time stays
//! blocked, and even then it cancels none of the rebalance's reassignments.

use crate::crd::{KafkaRebalance, RebalancePhase, ScaleDownPhase, ScaleDownStatus};

use super::scale_down::{Action, Decision};

/// The first KafkaRebalance of cluster `cluster` that is executing its moves, by name. Pure.
#[must_use]
pub fn executing(rebalances: &[KafkaRebalance], cluster: &str) -> Option<String> {
    rebalances
        .iter()
        .filter(|r| r.spec.cluster == cluster)
        .find(|r| r.status.as_ref().and_then(|s| s.phase) == Some(RebalancePhase::Rebalancing))
        .map(|r| r.metadata.name.clone().unwrap_or_default())
}

/// Whether the scale-down recorded in `previous` already moves things (drain, voters,
/// unregistering, shrinking): then it goes on, and a rebalance waits for it.
#[must_use]
pub fn started(previous: Option<&ScaleDownStatus>) -> bool {
    previous.is_some_and(|p| {
        matches!(
            p.phase,
            ScaleDownPhase::Draining
                | ScaleDownPhase::MovingVoters
                | ScaleDownPhase::Unregistering
                | ScaleDownPhase::Shrinking
        )
    })
}

/// The scale-down decision once the rebalance `rebalancing` (its name, if one executes) is
/// taken into account. Pure.
#[must_use]
pub fn hold(
    decision: Decision,
    previous: Option<&ScaleDownStatus>,
    rebalancing: Option<&str>,
) -> Decision {
    let Some(name) = rebalancing else {
        return decision;
    };
    if started(previous) {
        return decision;
    }
    match decision.action {
        // A drain that timed out (sticky until the spec changes) stays blocked; what is in
        // flight is the rebalance's, not the drain's.
        Action::Blocked { .. } if decision.status.blocked_generation.is_some() => Decision {
            action: Action::Blocked { cancel: Vec::new() },
            status: decision.status,
        },
        _ => {
            let mut status = decision.status;
            status.phase = ScaleDownPhase::Waiting;
            status.blocked_generation = None;
            status.message = Some(format!(
                "KafkaRebalance {name} is moving partitions: the drain of brokers {:?} starts \
                 when it is Ready, Stopped or NotReady ({} partition(s) to move off them); \
                 every broker is kept meanwhile",
                status.brokers, status.partitions_remaining
            ));
            Decision {
                action: Action::Wait,
                status,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::drain::Move;
    use crate::crd::{KafkaRebalanceSpec, KafkaRebalanceStatus};

    fn status(phase: ScaleDownPhase) -> ScaleDownStatus {
        ScaleDownStatus {
            phase,
            brokers: vec![3, 4],
            started_at: "2027-01-01T00:00:00Z".into(),
            partitions_remaining: 7,
            message: None,
            blocked_generation: None,
            throttled_topics: vec!["t".into()],
        }
    }

    fn reassign() -> Decision {
        Decision {
            action: Action::Reassign {
                start: vec![Move {
                    topic: "t".into(),
                    partition: 0,
                    from: vec![3],
                    to: vec![0],
                }],
            },
            status: status(ScaleDownPhase::Draining),
        }
    }

    fn rebalance(name: &str, cluster: &str, phase: Option<RebalancePhase>) -> KafkaRebalance {
        let spec: KafkaRebalanceSpec =
            serde_json::from_value(serde_json::json!({ "cluster": cluster })).expect("spec");
        let mut r = KafkaRebalance::new(name, spec);
        r.status = Some(KafkaRebalanceStatus {
            phase,
            ..KafkaRebalanceStatus::default()
        });
        r
    }

    #[test]
    fn only_an_executing_rebalance_of_this_cluster_holds_back() {
        let all = [
            rebalance("other", "b", Some(RebalancePhase::Rebalancing)),
            rebalance("proposed", "a", Some(RebalancePhase::ProposalReady)),
            rebalance("done", "a", Some(RebalancePhase::Ready)),
            rebalance("stopped", "a", Some(RebalancePhase::Stopped)),
            rebalance("new", "a", None),
        ];
        assert_eq!(executing(&all, "a"), None);
        let mut all = all.to_vec();
        all.push(rebalance("moving", "a", Some(RebalancePhase::Rebalancing)));
        assert_eq!(executing(&all, "a").as_deref(), Some("moving"));
    }

    #[test]
    fn a_scale_down_not_started_waits_for_the_rebalance_and_moves_nothing() {
        for previous in [
            None,
            Some(status(ScaleDownPhase::Done)),
            Some(status(ScaleDownPhase::Waiting)),
        ] {
            let d = hold(reassign(), previous.as_ref(), Some("r1"));
            assert_eq!(d.action, Action::Wait, "{previous:?}");
            assert_eq!(d.status.phase, ScaleDownPhase::Waiting);
            assert_eq!(d.status.brokers, vec![3, 4]);
            let msg = d.status.message.unwrap_or_default();
            assert!(msg.contains("KafkaRebalance r1"), "{msg}");
            assert!(msg.contains("[3, 4]"), "{msg}");
        }
        // Every later step waits too (a scale-down whose brokers held nothing).
        for action in [
            Action::MoveVoters,
            Action::Unregister { ids: vec![3] },
            Action::Shrink,
        ] {
            let d = Decision {
                action,
                status: status(ScaleDownPhase::Shrinking),
            };
            assert_eq!(hold(d, None, Some("r1")).action, Action::Wait);
        }
    }

    #[test]
    fn without_a_rebalance_or_once_the_drain_started_the_decision_stands() {
        assert_eq!(hold(reassign(), None, None), reassign());
        let waited = Some(status(ScaleDownPhase::Waiting));
        assert_eq!(
            hold(reassign(), waited.as_ref(), None),
            reassign(),
            "the rebalance ended: the drain starts"
        );
        for phase in [
            ScaleDownPhase::Draining,
            ScaleDownPhase::MovingVoters,
            ScaleDownPhase::Unregistering,
            ScaleDownPhase::Shrinking,
        ] {
            let previous = Some(status(phase));
            assert_eq!(
                hold(reassign(), previous.as_ref(), Some("r1")),
                reassign(),
                "{phase:?}: the rebalance waits for the drain instead"
            );
        }
    }

    #[test]
    fn a_verdict_of_impossible_made_mid_rebalance_waits_for_the_layout_it_leaves() {
        // A partition being reassigned lists old and new replicas together: RF 2 looks like 3.
        let blocked = Decision {
            action: Action::Blocked {
                cancel: vec![("t".into(), 0)],
            },
            status: status(ScaleDownPhase::Blocked),
        };
        let d = hold(blocked.clone(), None, Some("r1"));
        assert_eq!(d.action, Action::Wait, "nothing cancelled");
        assert_eq!(d.status.phase, ScaleDownPhase::Waiting);
        // Without a rebalance the verdict stands, cancelling the drain's own moves.
        assert_eq!(hold(blocked.clone(), None, None), blocked);
    }

    #[test]
    fn a_timed_out_drain_stays_blocked_but_cancels_none_of_the_rebalances_moves() {
        let mut sticky = status(ScaleDownPhase::Blocked);
        sticky.blocked_generation = Some(4);
        let blocked = Decision {
            action: Action::Blocked {
                cancel: vec![("t".into(), 0)],
            },
            status: sticky.clone(),
        };
        let d = hold(blocked, Some(&sticky), Some("r1"));
        assert_eq!(d.action, Action::Blocked { cancel: Vec::new() });
        assert_eq!(d.status, sticky);
    }
}
