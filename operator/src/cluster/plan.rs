//! Plan step of the KafkaCluster reconcile (pure): from the observed state, which voter change
//! the apply step makes and when, how big the StatefulSet may be meanwhile, and when to come back.
//!
//! The ordering rules:
//! - voters change one step at a time through the brokers (a single `PUT` of the wanted set);
//! - a scale-down that removes a voter moves the voters first: the StatefulSet keeps its size
//!   until the brokers accepted the change;
//! - a scale-up adds voters only after the StatefulSet grew, every broker is ready and no
//!   rolling restart runs (a roll waits for nothing, voters wait for the roll);
//! - the pod template keeps the voters the cluster was created with for its whole life.
use std::time::Duration;

use super::build::quorum::desired_voters;
use super::roll;
use super::status::{BrokerPod, Outcome};
use super::voters::{self, QuorumView, State, shrink_removes_voter};
use crate::crd::KafkaCluster;

/// When this reconcile asks the brokers for a voter change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoterStep {
    /// Not now.
    None,
    /// Before the StatefulSet shrinks: the voters move off the brokers about to go; until the
    /// brokers accepted, the StatefulSet keeps `current` brokers.
    BeforeShrink {
        /// The StatefulSet's size now.
        current: i32,
    },
    /// After the objects are applied (only then): every broker is ready and no restart runs.
    AfterApply,
}

/// The decisions of one reconcile, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Voters of the pod template: those the cluster was created with, for its whole life.
    pub initial_voters: Vec<i32>,
    /// The first min(N, 3) brokers of the spec.
    pub desired_voters: Vec<i32>,
    /// Voters as last known: reported by the brokers, else the initial ones.
    pub known_voters: Vec<i32>,
    /// When to ask for the desired voters.
    pub voters: VoterStep,
}

/// Everything the plan decides from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The cluster (spec and last status).
    pub cluster: &'a KafkaCluster,
    /// The StatefulSet's `spec.replicas`, when it exists.
    pub replicas: Option<i32>,
    /// Live broker pods.
    pub pods: &'a [BrokerPod],
    /// Whether the spec validated (nothing is applied otherwise).
    pub buildable: bool,
    /// The rolling restart's next step, when one was decided.
    pub roll: Option<&'a roll::plan::Plan>,
    /// Whether the brokers a shrink removes are drained and unregistering may follow the
    /// voter change (the scale-down step decides; voters never move before the drain).
    pub move_voters: bool,
}

/// Decides the voter step. Pure.
#[must_use]
pub fn plan(input: &Input<'_>) -> Plan {
    let spec = &input.cluster.spec;
    let quorum = input
        .cluster
        .status
        .as_ref()
        .and_then(|s| s.quorum.as_ref());
    let initial_voters = quorum
        .map(|q| q.initial_voters.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| desired_voters(input.replicas.unwrap_or(spec.brokers)));
    let known_voters = quorum
        .and_then(|q| q.voters.clone())
        .unwrap_or_else(|| initial_voters.clone());
    let rolling = input.roll.is_some_and(roll::active);
    let all_ready = i32::try_from(input.pods.len()).unwrap_or(i32::MAX) == spec.brokers
        && input.pods.iter().all(|p| p.ready);
    let voters = match input.replicas {
        Some(current)
            if input.buildable
                && input.move_voters
                && shrink_removes_voter(current, spec.brokers, &known_voters) =>
        {
            VoterStep::BeforeShrink { current }
        }
        _ if input.buildable && all_ready && !rolling => VoterStep::AfterApply,
        _ => VoterStep::None,
    };
    Plan {
        initial_voters,
        desired_voters: desired_voters(spec.brokers),
        known_voters,
        voters,
    }
}

impl Plan {
    /// The StatefulSet size to build, given how the voter change before a shrink went: held at
    /// the current size until the brokers accepted it. Pure.
    #[must_use]
    pub fn hold_replicas(&self, sync: Option<&voters::Sync>) -> Option<i32> {
        match (self.voters, sync.map(|s| &s.state)) {
            (VoterStep::BeforeShrink { .. }, Some(State::InSync | State::Changed)) => None,
            (VoterStep::BeforeShrink { current }, _) => Some(current),
            _ => None,
        }
    }

    /// Reads a voter change made after apply: brokers that did not answer (no quorum API, or
    /// busy) while the known voters are the wanted ones (a cluster never resized) mean nothing
    /// to change, report or retry. Pure.
    #[must_use]
    pub fn settle(&self, mut sync: voters::Sync) -> voters::Sync {
        if matches!(sync.state, State::Unsupported | State::Pending(_))
            && sync.view.is_none()
            && voters::in_sync(
                &QuorumView {
                    voters: self.known_voters.clone(),
                    ..QuorumView::default()
                },
                &self.desired_voters,
            )
        {
            sync.state = State::InSync;
        }
        sync
    }
}

/// What the reconcile ended with, for the requeue decision.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The apply outcome.
    pub outcome: &'a Outcome,
    /// Whether the status written says Ready=True.
    pub ready: bool,
    /// Whether a rolling restart runs (or just finished).
    pub rolling: bool,
    /// The voter change of this reconcile, if one was attempted.
    pub voters: Option<&'a State>,
    /// Whether the StatefulSet was held for a voter change.
    pub held: bool,
    /// When a secure cluster's certificates next need the operator (renewal due).
    pub certificates_due: Option<Duration>,
    /// Whether a scale-down is under way (drain, voters, unregistering, shrinking).
    pub scaling_down: bool,
    /// Whether a scale-down is blocked.
    pub scale_down_blocked: bool,
}

/// Soonest requeue for a certificate renewal: a renewal window as long as the validity is due
/// at once on every reconcile, and must not spin.
pub const MIN_CERTIFICATE_REQUEUE: Duration = Duration::from_secs(30);

/// When to reconcile again; `None` waits for a change. Pure.
#[must_use]
pub fn requeue(finish: &Finish<'_>) -> Option<Duration> {
    if finish.rolling {
        return Some(Duration::from_secs(2));
    }
    if finish.scaling_down {
        return Some(Duration::from_secs(5));
    }
    if finish.scale_down_blocked {
        return Some(Duration::from_secs(60));
    }
    match finish.voters {
        Some(State::Pending(_)) => return Some(Duration::from_secs(10)),
        Some(State::Unsupported) if finish.held => return Some(Duration::from_secs(60)),
        _ => {}
    }
    match finish.outcome {
        Outcome::Applied if finish.ready => Some(
            finish
                .certificates_due
                .map_or(Duration::from_secs(300), |due| {
                    due.clamp(MIN_CERTIFICATE_REQUEUE, Duration::from_secs(300))
                }),
        ),
        Outcome::Applied | Outcome::ApplyFailed(_) => Some(Duration::from_secs(5)),
        Outcome::Invalid | Outcome::Paused => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::fixtures::ClusterFixture;
    use crate::crd::{KafkaClusterStatus, QuorumStatus};

    fn pods(n: i32, ready: bool) -> Vec<BrokerPod> {
        (0..n)
            .map(|ordinal| BrokerPod {
                ordinal,
                ip: Some(format!("10.0.0.{ordinal}")),
                host_ip: None,
                ready,
                image: None,
                uid: format!("u{ordinal}"),
                revision: None,
            })
            .collect()
    }

    fn with_voters(
        mut fx: ClusterFixture,
        initial: &[i32],
        voters: Option<&[i32]>,
    ) -> ClusterFixture {
        fx.0.status = Some(KafkaClusterStatus {
            quorum: Some(QuorumStatus {
                initial_voters: initial.to_vec(),
                voters: voters.map(<[i32]>::to_vec),
                ..QuorumStatus::default()
            }),
            ..KafkaClusterStatus::default()
        });
        fx
    }

    fn input<'a>(
        fx: &'a ClusterFixture,
        replicas: Option<i32>,
        pods: &'a [BrokerPod],
        roll: Option<&'a roll::plan::Plan>,
    ) -> Input<'a> {
        Input {
            cluster: &fx.0,
            replicas,
            pods,
            buildable: true,
            roll,
            move_voters: true,
        }
    }

    fn rolling() -> roll::plan::Plan {
        roll::plan::Plan {
            state: None,
            action: roll::plan::Action::Wait {
                message: "waiting".into(),
                blocked: false,
            },
        }
    }

    fn sync(state: State, view: Option<&[i32]>) -> voters::Sync {
        voters::Sync {
            view: view.map(|v| QuorumView {
                voters: v.to_vec(),
                ..QuorumView::default()
            }),
            state,
        }
    }

    #[test]
    fn a_new_cluster_takes_its_voters_from_the_spec_and_waits_for_ready_brokers() {
        let fx = ClusterFixture::new("orders", 3);
        let p = plan(&input(&fx, None, &[], None));
        assert_eq!(p.initial_voters, vec![0, 1, 2]);
        assert_eq!(p.desired_voters, vec![0, 1, 2]);
        assert_eq!(p.known_voters, vec![0, 1, 2]);
        assert_eq!(p.voters, VoterStep::None);
        let ready = pods(3, true);
        assert_eq!(
            plan(&input(&fx, Some(3), &ready, None)).voters,
            VoterStep::AfterApply
        );
    }

    #[test]
    fn the_template_keeps_the_voters_the_cluster_was_created_with() {
        // Created with one broker, grown to five: the template still names broker 0 only.
        let fx = with_voters(ClusterFixture::new("orders", 5), &[0], Some(&[0]));
        let p = plan(&input(&fx, Some(1), &[], None));
        assert_eq!(p.initial_voters, vec![0]);
        assert_eq!(p.desired_voters, vec![0, 1, 2]);
        // Without a recorded quorum, an existing StatefulSet's size decides, not the spec.
        let fx = ClusterFixture::new("orders", 5);
        assert_eq!(
            plan(&input(&fx, Some(1), &[], None)).initial_voters,
            vec![0]
        );
    }

    #[test]
    fn a_scale_up_adds_voters_only_after_every_broker_is_ready() {
        let fx = with_voters(ClusterFixture::new("orders", 3), &[0], Some(&[0]));
        // The StatefulSet has not grown yet / the new brokers are starting.
        assert_eq!(
            plan(&input(&fx, Some(1), &pods(1, true), None)).voters,
            VoterStep::None
        );
        assert_eq!(
            plan(&input(&fx, Some(3), &pods(3, false), None)).voters,
            VoterStep::None
        );
        let mut some_ready = pods(3, true);
        some_ready[2].ready = false;
        assert_eq!(
            plan(&input(&fx, Some(3), &some_ready, None)).voters,
            VoterStep::None
        );
        assert_eq!(
            plan(&input(&fx, Some(3), &pods(3, true), None)).voters,
            VoterStep::AfterApply
        );
    }

    #[test]
    fn voters_wait_for_a_rolling_restart() {
        let fx = with_voters(ClusterFixture::new("orders", 3), &[0], Some(&[0]));
        let ready = pods(3, true);
        let roll = rolling();
        assert_eq!(
            plan(&input(&fx, Some(3), &ready, Some(&roll))).voters,
            VoterStep::None
        );
        let idle = roll::plan::Plan {
            state: None,
            action: roll::plan::Action::Idle,
        };
        assert_eq!(
            plan(&input(&fx, Some(3), &ready, Some(&idle))).voters,
            VoterStep::AfterApply
        );
    }

    #[test]
    fn a_shrink_that_removes_a_voter_moves_the_voters_first_and_holds_the_size() {
        let fx = with_voters(
            ClusterFixture::new("orders", 1),
            &[0, 1, 2],
            Some(&[0, 1, 2]),
        );
        // Even while a restart runs or brokers are unready: the shrink must not outrun the voters.
        let roll = rolling();
        let p = plan(&input(&fx, Some(3), &pods(3, false), Some(&roll)));
        assert_eq!(p.voters, VoterStep::BeforeShrink { current: 3 });
        assert_eq!(p.desired_voters, vec![0]);
        assert_eq!(p.hold_replicas(None), Some(3));
        assert_eq!(
            p.hold_replicas(Some(&sync(State::Pending("409".into()), None))),
            Some(3)
        );
        assert_eq!(
            p.hold_replicas(Some(&sync(State::Unsupported, None))),
            Some(3)
        );
        assert_eq!(
            p.hold_replicas(Some(&sync(State::Changed, Some(&[0, 1, 2])))),
            None
        );
        assert_eq!(
            p.hold_replicas(Some(&sync(State::InSync, Some(&[0])))),
            None
        );
    }

    #[test]
    fn voters_do_not_move_before_the_departing_brokers_are_drained() {
        let fx = with_voters(
            ClusterFixture::new("orders", 1),
            &[0, 1, 2],
            Some(&[0, 1, 2]),
        );
        let ready = pods(3, true);
        let mut i = input(&fx, Some(3), &ready, None);
        i.move_voters = false;
        let p = plan(&i);
        assert_eq!(p.voters, VoterStep::None);
        assert_eq!(
            p.hold_replicas(None),
            None,
            "the scale-down step holds, not the plan"
        );
    }

    #[test]
    fn a_scale_down_comes_back_soon_and_a_blocked_one_every_minute() {
        let applied = Outcome::Applied;
        let f = |scaling_down, scale_down_blocked| Finish {
            outcome: &applied,
            ready: true,
            rolling: false,
            voters: None,
            held: true,
            certificates_due: None,
            scaling_down,
            scale_down_blocked,
        };
        assert_eq!(requeue(&f(true, false)), Some(Duration::from_secs(5)));
        assert_eq!(requeue(&f(false, true)), Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_shrink_that_keeps_every_voter_does_not_wait() {
        let fx = with_voters(
            ClusterFixture::new("orders", 4),
            &[0, 1, 2],
            Some(&[0, 1, 2]),
        );
        let p = plan(&input(&fx, Some(5), &pods(5, true), None));
        assert_eq!(p.voters, VoterStep::None);
        assert_eq!(p.hold_replicas(None), None);
    }

    #[test]
    fn an_invalid_spec_plans_no_voter_change() {
        let fx = with_voters(
            ClusterFixture::new("orders", 1),
            &[0, 1, 2],
            Some(&[0, 1, 2]),
        );
        let ready = pods(3, true);
        let mut i = input(&fx, Some(3), &ready, None);
        i.buildable = false;
        assert_eq!(plan(&i).voters, VoterStep::None);
    }

    #[test]
    fn silent_brokers_of_a_never_resized_cluster_are_in_sync() {
        let fx = ClusterFixture::new("orders", 3);
        let ready = pods(3, true);
        let p = plan(&input(&fx, Some(3), &ready, None));
        assert_eq!(
            p.settle(sync(State::Unsupported, None)).state,
            State::InSync
        );
        assert_eq!(
            p.settle(sync(State::Pending("x".into()), None)).state,
            State::InSync
        );
        // A broker that answered keeps its answer.
        let answered = sync(State::Unsupported, Some(&[0, 1, 2]));
        assert_eq!(p.settle(answered.clone()), answered);
        // A grown cluster still waits for its voters.
        let fx = with_voters(ClusterFixture::new("orders", 3), &[0], Some(&[0]));
        let p = plan(&input(&fx, Some(3), &ready, None));
        assert!(matches!(
            p.settle(sync(State::Pending("x".into()), None)).state,
            State::Pending(_)
        ));
    }

    #[test]
    fn requeue_follows_restart_then_voters_then_readiness() {
        let applied = Outcome::Applied;
        let finish = |rolling, voters, held, ready| Finish {
            certificates_due: None,
            scaling_down: false,
            scale_down_blocked: false,
            outcome: &applied,
            ready,
            rolling,
            voters,
            held,
        };
        let pending = State::Pending("x".into());
        assert_eq!(
            requeue(&finish(true, Some(&pending), false, true)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            requeue(&finish(false, Some(&pending), false, true)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            requeue(&finish(false, Some(&State::Unsupported), true, true)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            requeue(&finish(false, Some(&State::Unsupported), false, true)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            requeue(&finish(false, None, false, false)),
            Some(Duration::from_secs(5))
        );
        let failed = Outcome::ApplyFailed("x".into());
        let f = Finish {
            certificates_due: None,
            scaling_down: false,
            scale_down_blocked: false,
            outcome: &failed,
            ready: false,
            rolling: false,
            voters: None,
            held: false,
        };
        assert_eq!(requeue(&f), Some(Duration::from_secs(5)));
        for outcome in [Outcome::Invalid, Outcome::Paused] {
            let f = Finish {
                certificates_due: None,
                scaling_down: false,
                scale_down_blocked: false,
                outcome: &outcome,
                ready: false,
                rolling: false,
                voters: None,
                held: false,
            };
            assert_eq!(requeue(&f), None);
        }
    }

    #[test]
    fn a_ready_secure_cluster_comes_back_when_a_certificate_is_due_but_never_spins() {
        let applied = Outcome::Applied;
        let due = |d: Option<Duration>| Finish {
            certificates_due: d,
            scaling_down: false,
            scale_down_blocked: false,
            outcome: &applied,
            ready: true,
            rolling: false,
            voters: None,
            held: false,
        };
        assert_eq!(requeue(&due(None)), Some(Duration::from_secs(300)));
        assert_eq!(
            requeue(&due(Some(Duration::from_secs(90)))),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            requeue(&due(Some(Duration::ZERO))),
            Some(MIN_CERTIFICATE_REQUEUE)
        );
        assert_eq!(
            requeue(&due(Some(Duration::from_secs(86_400)))),
            Some(Duration::from_secs(300))
        );
    }
}
