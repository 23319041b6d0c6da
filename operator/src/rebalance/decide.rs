//! The KafkaRebalance state machine (pure): from the stored phase, the annotation, the spec's
//! generation and whether the cluster is busy, what the reconcile does now ([`intent`]); and
//! during execution, from the proposal in the status and what the brokers report (layout and
//! reassignments in flight), which moves are done, running and to start ([`progress`]). Both
//! read only the status and the brokers, never memory, so an operator or broker restart resumes
//! where the rebalance was.

use std::collections::{BTreeMap, BTreeSet};

use crate::cluster::drain::{Move, Placement};
use crate::crd::{
    ConditionStatus, KafkaCluster, PartitionMove, RebalancePhase, ScaleDownPhase, condition_type,
    find_condition, rebalance_reason,
};

/// The `eddy.io/rebalance` annotation, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No annotation.
    None,
    /// `approve`.
    Approve,
    /// `stop`.
    Stop,
    /// `refresh`.
    Refresh,
    /// Anything else.
    Unknown(String),
}

impl Command {
    /// Parses the annotation's value.
    #[must_use]
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None => Self::None,
            Some("approve") => Self::Approve,
            Some("stop") => Self::Stop,
            Some("refresh") => Self::Refresh,
            Some(other) => Self::Unknown(other.to_string()),
        }
    }
}

/// A Warning condition to set: reason and message.
pub type Warning = Option<(&'static str, String)>;

/// What this reconcile does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Compute a (new) proposal.
    Propose,
    /// Run one step of the approved moves (start batches, record progress, finish).
    Execute {
        /// Whether this reconcile approves them (phase becomes Rebalancing).
        approving: bool,
    },
    /// Cancel the moves in flight and stop.
    Stop,
    /// Wait for the cluster; the message says for what.
    Wait(String),
    /// Nothing to do in this phase.
    Idle,
}

/// The decision: what to do and the Warning to report (a refused annotation or edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// What to do.
    pub intent: Intent,
    /// A refusal to report (`None`: clear the Warning).
    pub warning: Warning,
}

/// Why the cluster cannot take a rebalance now (not ready, restarting, scaling, balancing
/// after a scale-up); `None` when it can.
#[must_use]
pub fn cluster_busy(cluster: &KafkaCluster) -> Option<String> {
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let Some(st) = cluster.status.as_ref() else {
        return Some(format!("KafkaCluster {name} has no status yet"));
    };
    let ready = find_condition(&st.conditions, condition_type::READY)
        .is_some_and(|c| c.status == ConditionStatus::True);
    if !ready {
        return Some(format!("KafkaCluster {name} is not ready"));
    }
    if st.rolling_restart.is_some() {
        return Some(format!("KafkaCluster {name} is restarting its brokers"));
    }
    if st.scale_down.as_ref().is_some_and(|s| {
        matches!(
            s.phase,
            ScaleDownPhase::Draining
                | ScaleDownPhase::MovingVoters
                | ScaleDownPhase::Unregistering
                | ScaleDownPhase::Shrinking
        )
    }) {
        return Some(format!("KafkaCluster {name} is scaling down"));
    }
    if st.rebalance.as_ref().is_some_and(|r| r.moving) {
        return Some(format!(
            "KafkaCluster {name} is balancing replicas over new brokers"
        ));
    }
    None
}

/// Decides from the stored phase, the annotation, whether the spec changed since the proposal
/// (`edited`) and whether the cluster is busy. Pure.
#[must_use]
pub fn intent(
    phase: Option<RebalancePhase>,
    command: &Command,
    edited: bool,
    busy: Option<&str>,
) -> Decided {
    use RebalancePhase as P;
    let decided = |intent, warning| Decided { intent, warning };
    if let Command::Unknown(v) = command {
        return decided(
            Intent::Idle,
            Some((
                rebalance_reason::UNKNOWN_ANNOTATION,
                format!("eddy.io/rebalance={v} is not one of approve, stop, refresh"),
            )),
        );
    }
    let wait_or = |intent: Intent, warning: Warning| match busy {
        Some(why) => decided(Intent::Wait(why.to_string()), warning),
        None => decided(intent, warning),
    };
    match phase {
        Some(P::Rebalancing) => {
            let warning = match command {
                Command::Approve => Some((
                    rebalance_reason::ALREADY_APPROVED,
                    "the rebalance is already approved and running".to_string(),
                )),
                Command::Refresh => Some((
                    rebalance_reason::SPEC_CHANGE_REFUSED,
                    "refresh refused while the moves run: stop the rebalance first".to_string(),
                )),
                _ if edited => Some((
                    rebalance_reason::SPEC_CHANGE_REFUSED,
                    "the spec changed while the approved moves run: the change is ignored \
                     (stop, then refresh for a new proposal)"
                        .to_string(),
                )),
                _ => None,
            };
            if *command == Command::Stop {
                return decided(Intent::Stop, None);
            }
            wait_or(Intent::Execute { approving: false }, warning)
        }
        _ if *command == Command::Refresh || edited => wait_or(Intent::Propose, None),
        None | Some(P::PendingProposal) => wait_or(Intent::Propose, None),
        Some(P::ProposalReady | P::Stopped) if *command == Command::Approve => {
            wait_or(Intent::Execute { approving: true }, None)
        }
        Some(P::Ready) if *command == Command::Approve => decided(
            Intent::Idle,
            Some((
                rebalance_reason::ALREADY_APPROVED,
                "the approved moves are done already: refresh for a new proposal".to_string(),
            )),
        ),
        Some(P::NotReady) if *command == Command::Approve => decided(
            Intent::Idle,
            Some((
                rebalance_reason::ALREADY_APPROVED,
                "there is no proposal to approve: fix the spec or refresh".to_string(),
            )),
        ),
        _ => decided(Intent::Idle, None),
    }
}

/// Where the approved moves stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Moves whose replicas are where the proposal puts them.
    pub done: usize,
    /// Moves of ours still reassigning.
    pub in_flight: Vec<(String, i32)>,
    /// Moves to start now (within the in-flight limit).
    pub start: Vec<Move>,
    /// Moves not started yet (including `start`).
    pub pending: usize,
}

impl Progress {
    /// Whether every move is done.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.in_flight.is_empty() && self.pending == 0
    }
}

/// From the approved moves, the layout now and the reassignments in flight: what is done,
/// what runs and the next moves to start (at most `max_in_flight` at once). A move is done when
/// the partition's replicas are its target in order; it is running when a reassignment of the
/// partition is in flight (whoever started it: a partition is never reassigned twice at
/// once). A partition that no longer exists counts as done. Pure.
#[must_use]
pub fn progress(
    moves: &[PartitionMove],
    placements: &[Placement],
    ongoing: &BTreeMap<(String, i32), Vec<i32>>,
    max_in_flight: usize,
) -> Progress {
    let now: BTreeMap<(&str, i32), &Vec<i32>> = placements
        .iter()
        .map(|p| ((p.topic.as_str(), p.partition), &p.replicas))
        .collect();
    let busy = ongoing.len();
    let mut out = Progress {
        done: 0,
        in_flight: Vec::new(),
        start: Vec::new(),
        pending: 0,
    };
    let mut seen = BTreeSet::new();
    for m in moves {
        let key = (m.topic.clone(), m.partition);
        if !seen.insert(key.clone()) {
            continue;
        }
        if ongoing.contains_key(&key) {
            out.in_flight.push(key);
            continue;
        }
        match now.get(&(m.topic.as_str(), m.partition)) {
            None => out.done += 1,
            Some(r) if **r == m.to => out.done += 1,
            Some(r) => {
                out.pending += 1;
                if busy + out.start.len() < max_in_flight {
                    out.start.push(Move {
                        topic: m.topic.clone(),
                        partition: m.partition,
                        from: (*r).clone(),
                        to: m.to.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Whether the layout moved away from a proposal before it was approved: a move whose
/// partition is neither where the proposal found it nor where it puts it. Pure.
#[must_use]
pub fn stale(moves: &[PartitionMove], placements: &[Placement]) -> Option<String> {
    moves.iter().find_map(|m| {
        let p = placements
            .iter()
            .find(|p| p.topic == m.topic && p.partition == m.partition)?;
        (p.replicas != m.from && p.replicas != m.to).then(|| {
            format!(
                "{}-{} moved to {:?} since the proposal",
                m.topic, m.partition, p.replicas
            )
        })
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
