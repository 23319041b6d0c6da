//! Voter-set changes of the metadata quorum, with openraft's own membership API (no consensus of
//! our own): the active controller makes every registered broker that has a controller address a
//! Raft learner (`add_learner`), and `PUT /v1/cluster/voters` (any broker, forwarded to the active
//! controller) turns exactly the named brokers into the voters (`change_membership`, which goes
//! through a joint configuration) once each newcomer has caught up. A removed voter stays a
//! learner, so it keeps replaying the metadata log.

pub use super::membership::{QuorumView, VoterError};
use super::net::{self, Reply, Request};
use super::{Cluster, RPC_TIMEOUT, TypeConfig};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Raft};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Bound on one membership log write (adding a learner).
const ADD_LEARNER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a newcomer may take to replicate the log before the change is refused (409).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the joint then uniform membership commits.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(20);
/// A forwarded change covers all of the above.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(40);
/// How long a broker looks for the active controller before answering 503.
const FIND_CONTROLLER_TIMEOUT: Duration = Duration::from_secs(10);

/// This Raft node's view of the membership.
pub(crate) fn view_of(raft: &Raft<TypeConfig>) -> QuorumView {
    let m = raft.metrics().borrow().clone();
    let mem = m.membership_config.membership();
    QuorumView {
        leader: m.current_leader,
        voters: mem.voter_ids().collect(),
        learners: mem.learner_ids().collect(),
        nodes: mem
            .nodes()
            .map(|(id, n)| (id.to_string(), n.addr.clone()))
            .collect(),
    }
}

fn write_error(e: RaftError<u64, ClientWriteError<u64, BasicNode>>) -> VoterError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => VoterError::new(
            503,
            "this controller lost its leadership during the change; retry",
        ),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            VoterError::new(409, format!("the quorum refused the change: {c}"))
        }
        RaftError::Fatal(f) => VoterError::new(503, format!("the controller stopped: {f}")),
    }
}

impl Cluster {
    /// This node's view of the quorum; a broker without Raft (no controller listener), or a
    /// learner not yet added (it knows no voters), asks a quorum member.
    pub async fn quorum_view(&self) -> Result<QuorumView, VoterError> {
        if let Some(r) = &self.raft {
            let v = view_of(r);
            if !v.voters.is_empty() {
                return Ok(v);
            }
        }
        let me = u64::try_from(self.node_id).ok();
        for id in self.contact_ids().into_iter().filter(|id| Some(*id) != me) {
            let Some(addr) = self.addr_of(id) else {
                continue;
            };
            if let Ok(Reply::Quorum(v)) = net::call(&addr, &Request::Quorum, RPC_TIMEOUT).await {
                return Ok(v);
            }
        }
        Err(VoterError::new(
            503,
            "no member of the controller quorum is reachable",
        ))
    }

    /// The quorum another voter named in the flag already has (asked before initializing).
    pub(super) async fn existing_quorum(&self) -> Option<QuorumView> {
        let me = u64::try_from(self.node_id).ok();
        for (id, addr) in &self.voters {
            if Some(*id) == me {
                continue;
            }
            if let Ok(Reply::Quorum(v)) =
                net::call(addr, &Request::Quorum, Duration::from_secs(1)).await
                && !v.voters.is_empty()
            {
                return Some(v);
            }
        }
        None
    }

    /// Makes exactly `voters` the voter set, through the active controller (forwarded from any
    /// broker). Idempotent: the current set answers at once without a change.
    pub async fn change_voters(&self, voters: Vec<u64>) -> Result<QuorumView, VoterError> {
        if voters.is_empty() {
            return Err(VoterError::new(400, "the voter set must not be empty"));
        }
        let deadline = Instant::now() + FIND_CONTROLLER_TIMEOUT;
        let me = u64::try_from(self.node_id).ok();
        let mut target = self.controller_id().and_then(|l| u64::try_from(l).ok());
        let contacts = self.contact_ids();
        let mut rotate = contacts.iter().copied().cycle();
        let mut last_err = String::from("no controller known");
        while Instant::now() < deadline {
            let Some(t) = target.or_else(|| rotate.next()) else {
                break;
            };
            let reply = if self.raft.is_some() && Some(t) == me {
                self.handle_change_voters(voters.clone()).await
            } else if let Some(addr) = self.addr_of(t) {
                net::call(
                    &addr,
                    &Request::ChangeVoters(voters.clone()),
                    FORWARD_TIMEOUT,
                )
                .await
                .unwrap_or_else(|e| Reply::Error(format!("controller {t} at {addr}: {e}")))
            } else {
                Reply::NotLeader(None)
            };
            match reply {
                Reply::VoterChange(r) => return r,
                Reply::NotLeader(Some(l)) if l != t => {
                    // Bounded by the deadline; a short pause keeps stale views from spinning.
                    target = Some(l);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Reply::Error(e) => {
                    last_err = e;
                    target = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => {
                    target = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(VoterError::new(
            503,
            format!("no active controller to change the voters: {last_err}"),
        ))
    }

    /// On the node that received a forwarded change: do it when leading, else redirect.
    pub(super) async fn handle_change_voters(&self, voters: Vec<u64>) -> Reply {
        let Some(raft) = &self.raft else {
            return Reply::NotLeader(None);
        };
        if !self.is_leader() {
            return Reply::NotLeader(raft.metrics().borrow().current_leader);
        }
        Reply::VoterChange(self.lead_voter_change(raft, voters).await)
    }

    async fn lead_voter_change(
        &self,
        raft: &Raft<TypeConfig>,
        voters: Vec<u64>,
    ) -> Result<QuorumView, VoterError> {
        let want: BTreeSet<u64> = voters.into_iter().collect();
        if want.is_empty() {
            return Err(VoterError::new(400, "the voter set must not be empty"));
        }
        let started = Instant::now();
        let membership = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let current: BTreeSet<u64> = membership.voter_ids().collect();
        if current == want && membership.get_joint_config().len() == 1 {
            return Ok(view_of(raft));
        }
        // Every newcomer must be a registered broker with a controller address; it becomes a
        // learner first (the controller loop usually did that already).
        let img = self.image().clone();
        for id in &want {
            if membership.get_node(id).is_some() {
                continue;
            }
            let addr = i32::try_from(*id)
                .ok()
                .filter(|i| img.brokers.contains_key(i))
                .and_then(|i| img.controllers.get(&i));
            let Some(addr) = addr else {
                return Err(VoterError::new(
                    409,
                    format!(
                        "broker {id} is not a registered broker with a controller address \
                         (start it with --controller-listener and wait until it registered)"
                    ),
                ));
            };
            match tokio::time::timeout(
                ADD_LEARNER_TIMEOUT,
                raft.add_learner(*id, BasicNode::new(addr), false),
            )
            .await
            {
                Ok(Ok(_)) => tracing::info!(id, %addr, "added a learner for a voter change"),
                Ok(Err(e)) => return Err(write_error(e)),
                Err(_) => {
                    return Err(VoterError::new(
                        503,
                        format!("adding broker {id} as a learner timed out"),
                    ));
                }
            }
        }
        // Caught up: each newcomer has replicated everything the leader had when asked.
        let newcomers: Vec<u64> = want.difference(&current).copied().collect();
        let target = raft.metrics().borrow().last_log_index.unwrap_or(0);
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            let m = raft.metrics().borrow().clone();
            let Some(repl) = &m.replication else {
                return Err(VoterError::new(
                    503,
                    "this controller lost its leadership during the change; retry",
                ));
            };
            let lagging: Vec<String> = newcomers
                .iter()
                .filter_map(|id| {
                    let matched = repl.get(id).copied().flatten().map_or(0, |l| l.index);
                    (matched < target).then(|| format!("broker {id} at {matched} of {target}"))
                })
                .collect();
            if lagging.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(VoterError::new(
                    409,
                    format!(
                        "not caught up with the metadata log within {}s: {}",
                        CATCH_UP_TIMEOUT.as_secs(),
                        lagging.join(", ")
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Joint consensus to exactly `want`; removed voters stay learners (retain = true).
        match tokio::time::timeout(CHANGE_TIMEOUT, raft.change_membership(want.clone(), true)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(write_error(e)),
            Err(_) => {
                return Err(VoterError::new(
                    503,
                    "the membership change was not committed in time (is a majority of the \
                     old and new voters alive?)",
                ));
            }
        }
        tracing::info!(
            from = ?current,
            to = ?want,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "changed the controller quorum voters"
        );
        Ok(view_of(raft))
    }

    /// On the active controller: make every registered broker with a controller address that
    /// is not in the membership yet a learner, so it replicates the metadata log; and update the
    /// address of a member that registered a new one (it restarted elsewhere).
    pub(super) async fn add_registered_learners(&self) {
        let Some(raft) = &self.raft else {
            return;
        };
        let membership = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let mut missing: Vec<(u64, String)> = Vec::new();
        let mut moved: BTreeMap<u64, BasicNode> = BTreeMap::new();
        for (id, addr) in &self.image().controllers {
            let Ok(id) = u64::try_from(*id) else {
                continue;
            };
            match membership.get_node(&id) {
                None => missing.push((id, addr.clone())),
                Some(n) if n.addr != *addr => {
                    moved.insert(id, BasicNode::new(addr));
                }
                Some(_) => {}
            }
        }
        if !moved.is_empty() {
            // The same node (id and data) at a new address: replace only the address.
            let change = ChangeMembers::SetNodes(moved.clone());
            match tokio::time::timeout(ADD_LEARNER_TIMEOUT, raft.change_membership(change, true))
                .await
            {
                Ok(Ok(_)) => tracing::info!(?moved, "updated controller addresses"),
                Ok(Err(e)) => tracing::debug!(error = %e, "updating controller addresses failed"),
                Err(_) => tracing::warn!("updating controller addresses timed out"),
            }
        }
        for (id, addr) in missing {
            match tokio::time::timeout(
                ADD_LEARNER_TIMEOUT,
                raft.add_learner(id, BasicNode::new(&addr), false),
            )
            .await
            {
                Ok(Ok(_)) => tracing::info!(id, %addr, "added a broker to the quorum as a learner"),
                Ok(Err(e)) => tracing::debug!(id, error = %e, "adding a learner failed"),
                Err(_) => tracing::warn!(id, "adding a learner timed out"),
            }
        }
    }

    /// On the active controller: remove from the quorum the learners whose brokers were
    /// unregistered (UnregisterBroker dropped their controller address). Voters are never
    /// removed here.
    pub(super) async fn remove_unregistered_learners(&self) {
        let Some(raft) = &self.raft else {
            return;
        };
        let gone: BTreeSet<u64> = {
            let m = raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .clone();
            let img = self.image();
            m.learner_ids()
                .filter(|id| i32::try_from(*id).is_ok_and(|i| !img.controllers.contains_key(&i)))
                .collect()
        };
        if gone.is_empty() {
            return;
        }
        match tokio::time::timeout(
            ADD_LEARNER_TIMEOUT,
            raft.change_membership(ChangeMembers::RemoveNodes(gone.clone()), true),
        )
        .await
        {
            Ok(Ok(_)) => tracing::info!(
                ?gone,
                "removed unregistered brokers from the quorum's learners"
            ),
            Ok(Err(e)) => tracing::debug!(error = %e, "removing learners failed"),
            Err(_) => tracing::warn!("removing learners timed out"),
        }
    }
}
