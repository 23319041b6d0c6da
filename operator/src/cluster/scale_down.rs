//! Safe scale-down step of the KafkaCluster reconcile. When `spec.brokers` drops below the
//! StatefulSet's size, the brokers that go (the highest ordinals) are emptied before anything
//! stops: every replica they hold moves to the brokers that stay (throttled, rack-aware, the
//! staying replicas first so leadership moves off; [`super::drain`] decides where), then the
//! controller voters move off them (the plan's voter step), then they are unregistered from the
//! metadata (which also removes them as Raft learners), and only then the StatefulSet shrinks.
//! Until then it keeps its size.
//!
//! A drain that cannot finish never starts, or is undone: not enough brokers for a partition's
//! replication factor, not enough free disk on the brokers that stay (10 % of the disk or 1 GiB,
//! whichever is less, must stay free), or a
//! drain running past `spec.rebalance.drainTimeoutSeconds` (its reassignments are cancelled,
//! which puts the partitions back where they were). Then every broker is kept and the status
//! says why; a timed-out drain is retried only when the spec changes.
//!
//! A KafkaRebalance of the cluster that is executing its moves holds back a scale-down that has
//! not started draining ([`super::rebalance_hold`]).
//!
//! [`decide`] is pure; [`run`] does the admin calls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, ListParams};
use tracing::{info, warn};

use super::build::Names;
use super::drain::{self, Move};
use super::fetch::Observed;
use super::rebalance_hold;
use crate::context::Context;
use crate::crd::{KafkaCluster, KafkaRebalance, RebalanceSpec, ScaleDownPhase, ScaleDownStatus};
use crate::kafka_admin;
use crate::kafka_admin::reassign::{Disk, Layout};

/// Partitions moving at once during a drain (Cruise Control's default is 5 per broker).
pub const MAX_IN_FLIGHT: usize = 10;
/// Share of each staying broker's disk that must stay free after the drain, in percent...
pub const MIN_FREE_PERCENT: i64 = 10;
/// ...or this many bytes, whichever is less (a broker on a large shared disk needs room for
/// its data, not a tenth of the host).
pub const MIN_FREE_BYTES: i64 = 1 << 30;
/// Admin request timeout.
pub(crate) const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Topic keys that throttle a topic's catching-up replicas.
const THROTTLED_REPLICAS: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];
/// Broker keys with the throttle rate.
const THROTTLE_RATES: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];

/// What the decision is made from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// `spec.brokers`.
    pub brokers: i32,
    /// The StatefulSet's size now (larger than `brokers`).
    pub replicas: i32,
    /// Every partition and the registered brokers.
    pub layout: &'a Layout,
    /// Reassignments in progress and their targets.
    pub ongoing: &'a BTreeMap<(String, i32), Vec<i32>>,
    /// Each broker's disk, where known.
    pub disks: &'a BTreeMap<i32, Disk>,
    /// The controller voters as last known.
    pub voters: &'a [i32],
    /// The scale-down status of the previous reconcile.
    pub previous: Option<&'a ScaleDownStatus>,
    /// The cluster's `metadata.generation`.
    pub generation: Option<i64>,
    /// Now.
    pub now: SystemTime,
    /// The drain's deadline.
    pub timeout: Duration,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Keep every broker; cancel these reassignments (of partitions on departing brokers).
    Blocked {
        /// Partitions whose reassignment is cancelled.
        cancel: Vec<(String, i32)>,
    },
    /// Start these reassignments (none: wait for those in flight).
    Reassign {
        /// The moves to start now.
        start: Vec<Move>,
    },
    /// Drained: the voters move off the departing brokers (the plan's voter step).
    MoveVoters,
    /// Drained, no voter left on them: unregister these brokers, then shrink.
    Unregister {
        /// Broker ids.
        ids: Vec<i32>,
    },
    /// Nothing left on the departing brokers: shrink.
    Shrink,
    /// Held back before the drain started (a KafkaRebalance executes its moves, see
    /// [`super::rebalance_hold`]): keep every broker, move nothing.
    Wait,
}

/// The decision and the status that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The status to write.
    pub status: ScaleDownStatus,
}

/// RFC 3339 of `t`.
fn rfc3339(t: SystemTime) -> String {
    Timestamp::try_from(t).map_or_else(|_| Timestamp::UNIX_EPOCH.to_string(), |t| t.to_string())
}

fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    s.parse::<Timestamp>().ok().map(SystemTime::from)
}

/// Decides the next step of a scale-down from `replicas` to `brokers` brokers. Pure.
#[must_use]
pub fn decide(input: &Input<'_>) -> Decision {
    let staying: Vec<i32> = (0..input.brokers).collect();
    let mut departing: BTreeSet<i32> = (input.brokers..input.replicas).collect();
    departing.extend(input.layout.brokers.iter().filter(|b| **b >= input.brokers));
    let departing: Vec<i32> = departing.into_iter().collect();
    let remaining = drain::still_on(&input.layout.placements, &staying);
    let ours: Vec<(String, i32)> = input
        .ongoing
        .iter()
        .filter(|((topic, partition), target)| {
            target.iter().any(|b| departing.contains(b))
                || input.layout.placements.iter().any(|p| {
                    p.topic == *topic
                        && p.partition == *partition
                        && p.replicas.iter().any(|r| departing.contains(r))
                })
        })
        .map(|(k, _)| k.clone())
        .collect();
    let same_drain = input
        .previous
        .filter(|p| p.brokers == departing && p.phase != ScaleDownPhase::Done);
    let started_at = same_drain
        .filter(|p| p.phase == ScaleDownPhase::Draining)
        .map_or_else(|| rfc3339(input.now), |p| p.started_at.clone());
    let status = |phase, message: String| ScaleDownStatus {
        phase,
        brokers: departing.clone(),
        started_at: started_at.clone(),
        partitions_remaining: i32::try_from(remaining.len()).unwrap_or(i32::MAX),
        message: Some(message),
        blocked_generation: None,
        throttled_topics: same_drain
            .map(|p| p.throttled_topics.clone())
            .unwrap_or_default(),
    };
    let blocked = |message: String, sticky: bool| {
        let mut s = status(ScaleDownPhase::Blocked, message);
        s.blocked_generation = if sticky { input.generation } else { None };
        Decision {
            action: Action::Blocked {
                cancel: ours.clone(),
            },
            status: s,
        }
    };
    // A drain that ran out of time stays blocked until the spec changes.
    if let Some(p) = same_drain.filter(|p| {
        p.phase == ScaleDownPhase::Blocked
            && p.blocked_generation.is_some()
            && p.blocked_generation == input.generation
    }) {
        return blocked(p.message.clone().unwrap_or_default(), true);
    }
    // Mid-reassignment a partition lists old and new replicas together: judge what cannot be
    // drained on the replicas it will have.
    let moves =
        drain::plan(&input.layout.placements, &staying, &input.layout.racks).or_else(|_| {
            let settled = settled_placements(&input.layout.placements, input.ongoing);
            drain::plan(&settled, &staying, &input.layout.racks)
        });
    let moves = match moves {
        Ok(moves) => moves,
        Err(e) => {
            return blocked(
                format!(
                    "cannot remove brokers {departing:?}: {e}; every broker is kept (lower \
                     spec.brokers no further than the largest replication factor)"
                ),
                false,
            );
        }
    };
    if !moves.is_empty() {
        if let Some(started) = parse_rfc3339(&started_at) {
            let elapsed = input.now.duration_since(started).unwrap_or_default();
            if elapsed > input.timeout {
                return blocked(
                    format!(
                        "the drain of brokers {departing:?} did not finish within {} s ({} \
                         partitions left: {}); its reassignments were cancelled and every broker \
                         is kept. Change the spec (or raise spec.rebalance.drainTimeoutSeconds) \
                         to try again",
                        input.timeout.as_secs(),
                        remaining.len(),
                        preview(&remaining)
                    ),
                    true,
                );
            }
        }
        let pending: Vec<Move> = moves
            .iter()
            .filter(|m| !input.ongoing.contains_key(&(m.topic.clone(), m.partition)))
            .cloned()
            .collect();
        if let Some(message) = disk_shortfall(&pending, input.disks) {
            return blocked(
                format!("cannot remove brokers {departing:?}: {message}; every broker is kept"),
                false,
            );
        }
        let room = MAX_IN_FLIGHT.saturating_sub(ours.len());
        let start: Vec<Move> = pending.into_iter().take(room).collect();
        let message = format!(
            "moving {} partition(s) off brokers {departing:?} ({} in flight): {}",
            remaining.len(),
            ours.len() + start.len(),
            preview(&remaining)
        );
        return Decision {
            action: Action::Reassign { start },
            status: status(ScaleDownPhase::Draining, message),
        };
    }
    if !ours.is_empty() {
        // Replicas are off the departing brokers but a reassignment still names them.
        return Decision {
            action: Action::Reassign { start: Vec::new() },
            status: status(
                ScaleDownPhase::Draining,
                format!("waiting for {} reassignment(s) to finish", ours.len()),
            ),
        };
    }
    if input.voters.iter().any(|v| departing.contains(v)) {
        return Decision {
            action: Action::MoveVoters,
            status: status(
                ScaleDownPhase::MovingVoters,
                format!("brokers {departing:?} drained; moving the controller voters off them"),
            ),
        };
    }
    let registered: Vec<i32> = departing
        .iter()
        .copied()
        .filter(|b| input.layout.brokers.contains(b))
        .collect();
    if !registered.is_empty() {
        return Decision {
            action: Action::Unregister {
                ids: registered.clone(),
            },
            status: status(
                ScaleDownPhase::Unregistering,
                format!("brokers {registered:?} drained; unregistering them"),
            ),
        };
    }
    Decision {
        action: Action::Shrink,
        status: status(
            ScaleDownPhase::Shrinking,
            format!("brokers {departing:?} drained and unregistered; removing their pods"),
        ),
    }
}

/// The placements as they will be once the reassignments in flight finish: a partition being
/// reassigned lists its old and new replicas together (an RF=3 partition moving to three other
/// brokers shows six), which is no replication factor the drain must keep. Pure.
#[must_use]
pub fn settled_placements(
    placements: &[drain::Placement],
    ongoing: &BTreeMap<(String, i32), Vec<i32>>,
) -> Vec<drain::Placement> {
    placements
        .iter()
        .map(|p| match ongoing.get(&(p.topic.clone(), p.partition)) {
            Some(target) if !target.is_empty() => drain::Placement {
                replicas: target.clone(),
                ..p.clone()
            },
            _ => p.clone(),
        })
        .collect()
}

/// The first partitions of `names`, for messages.
fn preview(names: &[String]) -> String {
    let mut out: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    if names.len() > 5 {
        out.push("...");
    }
    out.join(", ")
}

/// Whether the moves would leave a staying broker with less than [`MIN_FREE_PERCENT`] of its
/// disk (at most [`MIN_FREE_BYTES`]) free: the bytes each broker receives are the partition's largest size on any broker.
/// Brokers that did not report their disk are not checked. Pure.
#[must_use]
pub fn disk_shortfall(moves: &[Move], disks: &BTreeMap<i32, Disk>) -> Option<String> {
    let size = |topic: &str, partition: i32| {
        disks
            .values()
            .filter_map(|d| d.sizes.get(&(topic.to_string(), partition)))
            .copied()
            .max()
            .unwrap_or(0)
    };
    let mut incoming: BTreeMap<i32, i64> = BTreeMap::new();
    for m in moves {
        for b in m.to.iter().filter(|b| !m.from.contains(b)) {
            *incoming.entry(*b).or_default() += size(&m.topic, m.partition);
        }
    }
    incoming.into_iter().find_map(|(broker, bytes)| {
        let d = disks.get(&broker)?;
        let (usable, total) = (d.usable?, d.total?);
        let left = usable - bytes;
        let margin = (total / 100 * MIN_FREE_PERCENT).min(MIN_FREE_BYTES);
        (left < margin).then(|| {
            format!(
                "broker {broker} would receive {bytes} bytes with {usable} bytes free of {total} \
                 ({margin} bytes must stay free)"
            )
        })
    })
}

/// What the scale-down step decided, for the apply and status steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The StatefulSet size to keep (`None`: the spec's).
    pub hold: Option<i32>,
    /// Whether the departing brokers are drained and their voters may move.
    pub move_voters: bool,
    /// The status to record (`None`: leave it as it is).
    pub status: Option<ScaleDownStatus>,
}

impl Outcome {
    /// Whether a scale-down is under way (not blocked, not done).
    #[must_use]
    pub fn active(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| !matches!(s.phase, ScaleDownPhase::Blocked | ScaleDownPhase::Done))
    }

    /// Whether the scale-down is blocked.
    #[must_use]
    pub fn blocked(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.phase == ScaleDownPhase::Blocked)
    }
}

/// Runs the scale-down step of a buildable cluster. Any failure to talk to the brokers keeps
/// every broker (the StatefulSet held at its size) and is reported in the status message.
pub async fn run(ctx: &Context, cluster: &KafkaCluster, observed: &Observed) -> Outcome {
    // The status as stored now: the controller's cache can lag behind the last reconcile's
    // write, and a stale phase would repeat or skip a step.
    let previous = observed
        .latest
        .as_ref()
        .unwrap_or(cluster)
        .status
        .as_ref()
        .and_then(|s| s.scale_down.as_ref());
    let brokers = cluster.spec.brokers;
    let now = SystemTime::now();
    match observed.replicas {
        Some(replicas) if replicas > brokers => {}
        _ => return finish(ctx, cluster, observed, previous).await,
    }
    let replicas = observed.replicas.unwrap_or(brokers);
    match drain_step(ctx, cluster, replicas, previous, now).await {
        Ok(outcome) => outcome,
        Err(message) => {
            warn!(error = %message, "scale-down step failed; keeping every broker");
            let mut status = previous.cloned().unwrap_or_else(|| ScaleDownStatus {
                phase: ScaleDownPhase::Draining,
                brokers: (brokers..replicas).collect(),
                started_at: rfc3339(now),
                partitions_remaining: 0,
                message: None,
                blocked_generation: None,
                throttled_topics: Vec::new(),
            });
            if status.phase == ScaleDownPhase::Done {
                status.phase = ScaleDownPhase::Draining;
                status.started_at = rfc3339(now);
            }
            status.message = Some(format!("cannot reach the brokers: {message}"));
            Outcome {
                hold: Some(replicas),
                move_voters: false,
                status: Some(status),
            }
        }
    }
}

async fn drain_step(
    ctx: &Context,
    cluster: &KafkaCluster,
    replicas: i32,
    previous: Option<&ScaleDownStatus>,
    now: SystemTime,
) -> Result<Outcome, String> {
    let rebalancing = executing_rebalance(ctx, cluster).await?;
    let (t, address, mut admin) =
        kafka_admin::connect_cluster(&ctx.client, cluster, ADMIN_TIMEOUT).await?;
    let at = |e: kafka_admin::Error| format!("{address}: {e}");
    let layout = admin.layout().await.map_err(at)?;
    let ongoing = admin.reassignments().await.map_err(at)?;
    let staying: Vec<i32> = (0..cluster.spec.brokers).collect();
    let mut disks = BTreeMap::new();
    if !drain::still_on(&layout.placements, &staying).is_empty() {
        for b in &layout.brokers {
            let mut one = kafka_admin::connect_to(&t, *b, ADMIN_TIMEOUT)
                .await
                .map_err(|e| format!("broker {b}: {e}"))?;
            disks.insert(
                *b,
                one.disk().await.map_err(|e| format!("broker {b}: {e}"))?,
            );
        }
    }
    let status = cluster.status.as_ref();
    let voters: Vec<i32> = status
        .and_then(|s| s.quorum.as_ref())
        .map(|q| q.voters.clone().unwrap_or_else(|| q.initial_voters.clone()))
        .unwrap_or_default();
    let rebalance = cluster.spec.rebalance.as_ref();
    let decided = decide(&Input {
        brokers: cluster.spec.brokers,
        replicas,
        layout: &layout,
        ongoing: &ongoing,
        disks: &disks,
        voters: &voters,
        previous,
        generation: cluster.metadata.generation,
        now,
        timeout: RebalanceSpec::drain_timeout(rebalance),
    });
    let decision = rebalance_hold::hold(decided, previous, rebalancing.as_deref());
    let mut st = decision.status;
    let mut outcome = Outcome {
        hold: Some(replicas),
        move_voters: false,
        status: None,
    };
    match decision.action {
        Action::Blocked { cancel } => {
            if !cancel.is_empty() {
                let changes: Vec<_> = cancel.iter().map(|(t, p)| (t.clone(), *p, None)).collect();
                let refused = admin.alter_reassignments(&changes).await.map_err(at)?;
                info!(
                    cancelled = cancel.len(),
                    ?refused,
                    "drain reassignments cancelled"
                );
            }
            remove_throttles(&mut admin, &mut st.throttled_topics)
                .await
                .map_err(at)?;
        }
        Action::Reassign { start } => {
            if !start.is_empty() {
                if let Some(rate) = RebalanceSpec::throttle(rebalance) {
                    throttle(&mut admin, &mut st.throttled_topics, &start, rate)
                        .await
                        .map_err(at)?;
                }
                let changes: Vec<_> = start
                    .iter()
                    .map(|m| (m.topic.clone(), m.partition, Some(m.to.clone())))
                    .collect();
                let refused = admin.alter_reassignments(&changes).await.map_err(at)?;
                info!(started = start.len(), "drain reassignments started");
                if !refused.is_empty() {
                    st.message = Some(format!(
                        "{}; refused: {}",
                        st.message.unwrap_or_default(),
                        refused.join("; ")
                    ));
                }
            }
        }
        Action::MoveVoters => {
            remove_throttles(&mut admin, &mut st.throttled_topics)
                .await
                .map_err(at)?;
            outcome.move_voters = true;
        }
        Action::Unregister { ids } => {
            remove_throttles(&mut admin, &mut st.throttled_topics)
                .await
                .map_err(at)?;
            for id in &ids {
                match admin.unregister_broker(*id).await {
                    Ok(()) => info!(broker = id, "broker unregistered"),
                    // Already gone (a retried step).
                    Err(kafka_admin::Error::Kafka { code: 102, .. }) => {}
                    Err(e) => return Err(at(e)),
                }
            }
            st.phase = ScaleDownPhase::Shrinking;
            st.message = Some(format!(
                "brokers {ids:?} drained and unregistered; removing their pods"
            ));
            outcome.hold = None;
        }
        Action::Shrink => {
            remove_throttles(&mut admin, &mut st.throttled_topics)
                .await
                .map_err(at)?;
            outcome.hold = None;
        }
        Action::Wait => {}
    }
    outcome.status = Some(st);
    Ok(outcome)
}

/// The KafkaRebalance of this cluster that is executing its moves, if any (read from the API
/// server, not the cache: the rebalance controller may have just approved one).
async fn executing_rebalance(
    ctx: &Context,
    cluster: &KafkaCluster,
) -> Result<Option<String>, String> {
    let api = Api::<KafkaRebalance>::namespaced(
        ctx.client.clone(),
        &cluster.namespace().unwrap_or_default(),
    );
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing KafkaRebalances: {e}"))?;
    Ok(rebalance_hold::executing(&list.items, &cluster.name_any()))
}

/// Throttles the moving topics' catching-up replicas at `rate` bytes/s per broker.
pub(crate) async fn throttle(
    admin: &mut kafka_admin::AdminClient,
    throttled_topics: &mut Vec<String>,
    moves: &[Move],
    rate: i64,
) -> Result<(), kafka_admin::Error> {
    let rates: BTreeMap<String, String> = THROTTLE_RATES
        .iter()
        .map(|k| ((*k).to_string(), rate.to_string()))
        .collect();
    admin.alter_cluster_config(&rates, &[]).await?;
    let star: BTreeMap<String, String> = THROTTLED_REPLICAS
        .iter()
        .map(|k| ((*k).to_string(), "*".to_string()))
        .collect();
    let topics: BTreeSet<&String> = moves.iter().map(|m| &m.topic).collect();
    for topic in topics {
        if throttled_topics.contains(topic) {
            continue;
        }
        admin.alter_topic_config(topic, &star, &[]).await?;
        throttled_topics.push(topic.clone());
    }
    Ok(())
}

/// Removes the throttle a drain set (idempotent).
pub(crate) async fn remove_throttles(
    admin: &mut kafka_admin::AdminClient,
    throttled_topics: &mut Vec<String>,
) -> Result<(), kafka_admin::Error> {
    if throttled_topics.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = THROTTLED_REPLICAS
        .iter()
        .map(|k| (*k).to_string())
        .collect();
    for topic in std::mem::take(throttled_topics) {
        match admin
            .alter_topic_config(&topic, &BTreeMap::new(), &keys)
            .await
        {
            // A topic deleted meanwhile has no throttle left.
            Ok(()) | Err(kafka_admin::Error::Kafka { code: 3, .. }) => {}
            Err(e) => {
                throttled_topics.push(topic);
                return Err(e);
            }
        }
    }
    let rates: Vec<String> = THROTTLE_RATES.iter().map(|k| (*k).to_string()).collect();
    admin.alter_cluster_config(&BTreeMap::new(), &rates).await
}

/// After the StatefulSet shrank (or the spec grew back): `Shrinking` until the departing pods
/// are gone, then `Done`, deleting their claims when `deleteClaim`; a drain abandoned because
/// the spec grew back removes its throttle.
async fn finish(
    ctx: &Context,
    cluster: &KafkaCluster,
    observed: &Observed,
    previous: Option<&ScaleDownStatus>,
) -> Outcome {
    let Some(prev) = previous else {
        return Outcome::default();
    };
    if prev.phase == ScaleDownPhase::Done {
        // Kept as stored now (the status written from the cache must not bring back an older
        // phase).
        return Outcome {
            status: Some(prev.clone()),
            ..Outcome::default()
        };
    }
    let brokers = cluster.spec.brokers;
    let mut st = prev.clone();
    let shrunk = !prev.brokers.is_empty() && prev.brokers.iter().all(|b| *b >= brokers);
    if !shrunk {
        // The spec grew back before the drain finished: reassignments already made stay (the
        // partitions are on brokers that stay), the throttle goes.
        if !st.throttled_topics.is_empty() {
            let removed = async {
                let (_, _, mut admin) =
                    kafka_admin::connect_cluster(&ctx.client, cluster, ADMIN_TIMEOUT).await?;
                remove_throttles(&mut admin, &mut st.throttled_topics)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            if let Err(e) = removed {
                warn!(error = %e, "removing the drain throttle failed; retrying");
                return Outcome {
                    hold: None,
                    move_voters: false,
                    status: Some(st),
                };
            }
        }
        st.phase = ScaleDownPhase::Done;
        st.message = Some(format!(
            "scale-down abandoned: spec.brokers is {brokers} again"
        ));
        return Outcome {
            hold: None,
            move_voters: false,
            status: Some(st),
        };
    }
    // Gone means gone: a departing pod still terminating keeps the phase at Shrinking.
    if observed.pods.iter().any(|p| p.ordinal >= brokers)
        || observed.terminating.iter().any(|o| *o >= brokers)
    {
        return Outcome {
            hold: None,
            move_voters: false,
            status: Some(st),
        };
    }
    if cluster.spec.storage.delete_claim {
        delete_claims(ctx, cluster, observed, brokers).await;
    }
    st.phase = ScaleDownPhase::Done;
    st.partitions_remaining = 0;
    st.message = Some(format!("brokers {:?} removed", st.brokers));
    Outcome {
        hold: None,
        move_voters: false,
        status: Some(st),
    }
}

/// Deletes the data claims of pods at or above `brokers` (`deleteClaim: true`).
async fn delete_claims(ctx: &Context, cluster: &KafkaCluster, observed: &Observed, brokers: i32) {
    let names = Names::new(&cluster.name_any());
    let api = Api::<PersistentVolumeClaim>::namespaced(
        ctx.client.clone(),
        &cluster.namespace().unwrap_or_default(),
    );
    for claim in &observed.claims {
        let name = claim.name_any();
        let Some(ordinal) = name
            .strip_prefix("data-")
            .and_then(|pod| names.ordinal_of(pod))
        else {
            continue;
        };
        if ordinal < brokers {
            continue;
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => info!(claim = %name, "claim of a removed broker deleted (deleteClaim)"),
            Err(e) => warn!(claim = %name, error = %e, "deleting a removed broker's claim failed"),
        }
    }
}

#[cfg(test)]
#[path = "scale_down_tests.rs"]
mod tests;
