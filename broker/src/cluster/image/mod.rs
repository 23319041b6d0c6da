//! The replicated metadata image (the Raft state machine's contents) and the commands that change
//! it. Every voter applies the same commands in the same order, so every broker derives the same
//! brokers, topics, partition leaders, ISRs and leader epochs.

mod apply;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// No leader: every ISR member is fenced (Kafka's leader -1).
pub const NO_LEADER: i32 = -1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Bumped at every registration: a restarted broker is a new incarnation.
    pub epoch: i64,
    /// Fenced brokers missed their heartbeats: they lead nothing and are out of every ISR.
    pub fenced: bool,
    /// Operator maintenance (PUT /v1/broker/maintenance): leads nothing while another in-sync
    /// replica can; survives restarts until DELETE.
    #[serde(default)]
    pub maintenance: bool,
    /// Controlled shutdown in progress (SIGTERM); cleared when the broker registers again.
    #[serde(default)]
    pub shutting_down: bool,
    /// Every advertised listener (Kafka's endpoints); `host`/`port` are the inter-broker
    /// listener's. Empty for registrations written before listeners were recorded.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Feature levels the broker's binary supports (KIP-584).
    #[serde(default = "crate::features::legacy_supported")]
    pub supported_features: crate::features::Supported,
}

/// One advertised listener of a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
}

impl BrokerRegistration {
    /// Where the broker is reached on `listener` (the registered address when it did not
    /// record that listener).
    pub fn endpoint(&self, listener: &str) -> (&str, u16) {
        self.endpoints
            .iter()
            .find(|e| e.listener == listener)
            .map_or((self.host.as_str(), self.port), |e| {
                (e.host.as_str(), e.port)
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub id: uuid::Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterImage {
    /// Chosen by the first broker to register; every broker reports it.
    #[serde(default)]
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicImage>,
    /// Where each broker's controller listener can be reached (host:port), as it registered it:
    /// the active controller adds these brokers to the metadata quorum as Raft learners.
    #[serde(default)]
    pub controllers: BTreeMap<i32, String>,
    /// Dynamic broker configs: key "" is the cluster-wide default, "<id>" one broker's own.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Partition reassignments in progress (KIP-455): topic -> partition -> reassignment.
    #[serde(default)]
    pub reassignments: BTreeMap<String, BTreeMap<i32, Reassignment>>,
    /// SASL/SCRAM credentials by user and mechanism (never passwords).
    #[serde(default)]
    pub scram_credentials: crate::security::sasl::credentials::ScramUsers,
    /// ACL bindings (CreateAcls/DeleteAcls); every broker's authorizer indexes them.
    #[serde(default)]
    pub acls: std::collections::BTreeSet<crate::security::acl::AclBinding>,
    /// Client quotas (AlterClientQuotas), by entity; every broker enforces them.
    #[serde(default)]
    pub client_quotas: crate::security::quota::ClientQuotaMap,
    /// Finalized feature levels (UpdateFeatures, `crate::features`).
    #[serde(default = "crate::features::legacy_finalized")]
    pub features: crate::features::Finalized,
}

/// An ongoing reassignment. While it runs the partition's replicas are the union of the target
/// and the replicas it had; it completes when every target replica is in the ISR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    pub target: Vec<i32>,
    /// The replicas before the (first) reassignment: cancelling goes back to them.
    pub original: Vec<i32>,
}

impl Reassignment {
    /// Kafka's adding replicas: target minus the original replicas.
    pub fn adding(&self) -> Vec<i32> {
        self.target
            .iter()
            .copied()
            .filter(|r| !self.original.contains(r))
            .collect()
    }

    /// Kafka's removing replicas: the current (union) replicas not in the target.
    pub fn removing(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| !self.target.contains(r))
            .collect()
    }
}

/// A change to the metadata image, written to the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    RegisterBroker {
        id: i32,
        host: String,
        port: u16,
        rack: Option<String>,
        /// The registering broker's own cluster id, adopted if the cluster has none yet.
        #[serde(default)]
        cluster_id: String,
        /// Every advertised listener.
        #[serde(default)]
        endpoints: Vec<Endpoint>,
        /// Feature levels the broker's binary supports; refused when the finalized levels are
        /// outside them.
        #[serde(default = "crate::features::legacy_supported")]
        supported_features: crate::features::Supported,
    },
    FenceBroker {
        id: i32,
    },
    UnfenceBroker {
        id: i32,
    },
    /// `assignment[p]` is partition p's replica list, the first being the preferred leader;
    /// without one the controller places `partitions` x `replication_factor` replicas on the
    /// brokers live when the command is applied.
    CreateTopic {
        name: String,
        id: uuid::Uuid,
        configs: BTreeMap<String, String>,
        assignment: Option<Vec<Vec<i32>>>,
        partitions: i32,
        replication_factor: i16,
    },
    DeleteTopic {
        name: String,
    },
    /// The leader changes a partition's ISR (KIP-497 AlterPartition); applied only while that
    /// leader and epoch are current.
    /// Maintenance on/off for a broker: moves its leaderships to other in-sync replicas.
    SetMaintenance {
        id: i32,
        on: bool,
    },
    /// ElectLeaders for one partition: the preferred replica when it is in sync, or (unclean)
    /// any live replica of a leaderless partition.
    ElectLeader {
        topic: String,
        partition: i32,
        unclean: bool,
    },
    /// Controlled shutdown: the broker is about to stop; move its leaderships away first.
    ControlledShutdown {
        id: i32,
    },
    AlterIsr {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
    },
    /// A registered broker's controller address (part of its registration, written right after
    /// `RegisterBroker`): the active controller makes it a Raft learner of the metadata quorum.
    SetControllerAddress {
        id: i32,
        addr: String,
    },
    /// Replaces a topic's config overrides (AlterConfigs / IncrementalAlterConfigs).
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        /// Compare-and-set: applied only while the overrides are still these (incremental
        /// alters are computed from a broker's image, which may lag).
        #[serde(default)]
        expected: Option<BTreeMap<String, String>>,
    },
    /// Replaces the dynamic configs of broker `broker` ("" = the cluster-wide default).
    SetBrokerConfigs {
        broker: String,
        configs: BTreeMap<String, String>,
        /// Compare-and-set, as for topics.
        #[serde(default)]
        expected: Option<BTreeMap<String, String>>,
    },
    /// CreatePartitions: grows `name` to `count` partitions; `assignment` lists the replicas of
    /// each new partition, or the controller places them like CreateTopic.
    CreatePartitions {
        name: String,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
    },
    /// AlterPartitionReassignments for one partition: a target replica list, or None to cancel
    /// the reassignment in progress.
    AlterReassignment {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
    },
    /// AlterUserScramCredentials (and `--add-scram` bootstrap users): upserts and deletions of
    /// SCRAM credentials, applied in order.
    AlterScramCredentials {
        alterations: Vec<crate::security::sasl::credentials::ScramAlteration>,
    },
    /// CreateAcls: adds bindings (already present ones are kept once).
    CreateAcls {
        bindings: Vec<crate::security::acl::AclBinding>,
    },
    /// DeleteAcls: removes exactly these bindings (the ones the request's filters matched).
    DeleteAcls {
        bindings: Vec<crate::security::acl::AclBinding>,
    },
    /// UnregisterBroker: forget a drained broker (its registration and controller address, so
    /// the active controller also removes it from the quorum's learners). Refused while any
    /// partition or reassignment still names it.
    UnregisterBroker {
        id: i32,
    },
    /// UpdateFeatures: the new finalized levels, computed from the image at `expected_epoch`
    /// (refused if the levels changed since, or a registered broker does not support them).
    UpdateFeatures {
        levels: BTreeMap<String, i16>,
        expected_epoch: i64,
    },
    /// AlterClientQuotas: validated changes, applied in order.
    AlterClientQuotas {
        changes: Vec<crate::security::quota::QuotaAlteration>,
    },
}

/// The answer to one applied command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// The command was refused when applied (e.g. the topic already exists).
    Refused(Refusal, String),
}

/// Why a command was refused (mapped to a Kafka error by the broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    TopicExists,
    UnknownTopic,
    UnknownBroker,
    InvalidReplicationFactor,
    InvalidReplicaAssignment,
    /// A stale ISR change (the leader or its epoch moved on).
    FencedLeaderEpoch,
    ElectionNotNeeded,
    PreferredLeaderNotAvailable,
    EligibleLeadersNotAvailable,
    InvalidPartitions,
    NoReassignmentInProgress,
    /// A compare-and-set config change found other values (the caller recomputes).
    ConfigChanged,
    /// A feature level outside what a broker supports (UpdateFeatures, RegisterBroker).
    UnsupportedFeatureLevel,
    /// UnregisterBroker of a broker that still holds replicas.
    BrokerInUse,
}

impl ClusterImage {
    pub fn live_brokers(&self) -> Vec<&BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced).collect()
    }

    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// The replication factor of a topic: its partitions' (target) replica count.
    pub fn replication_factor(&self, name: &str) -> Option<usize> {
        let t = self.topics.get(name)?;
        let moving = self.reassignments.get(name);
        let p = t.partitions.first()?;
        Some(
            moving
                .and_then(|m| m.get(&0))
                .map_or(p.replicas.len(), |r| r.target.len()),
        )
    }

    /// A new partition on `replicas`: empty everywhere, so every live replica is in sync.
    fn new_partition(&self, replicas: &[i32]) -> PartitionState {
        let live: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| self.is_live(*r))
            .collect();
        PartitionState {
            replicas: replicas.to_vec(),
            isr: if live.is_empty() {
                replicas.iter().take(1).copied().collect()
            } else {
                live.clone()
            },
            leader: live.first().copied().unwrap_or(NO_LEADER),
            leader_epoch: 0,
        }
    }

    /// Checks a CreatePartitions request against the image (also used for validate_only):
    /// the replica lists of the new partitions.
    pub fn new_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<&[Vec<i32>]>,
    ) -> Result<Vec<Vec<i32>>, Outcome> {
        let refuse = |r, m: String| Err(Outcome::Refused(r, m));
        let Some(t) = self.topics.get(name) else {
            return refuse(
                Refusal::UnknownTopic,
                format!("topic {name} does not exist"),
            );
        };
        let current = t.partitions.len() as i32;
        if count <= current {
            return refuse(
                Refusal::InvalidPartitions,
                format!(
                    "topic {name} has {current} partitions; the count can only grow, asked for {count}"
                ),
            );
        }
        if count > 100_000 {
            return refuse(
                Refusal::InvalidPartitions,
                format!("partition count must be at most 100000, got {count}"),
            );
        }
        let rf = self.replication_factor(name).unwrap_or(1);
        match assignment {
            Some(a) => {
                if a.len() as i32 != count - current {
                    return refuse(
                        Refusal::InvalidReplicaAssignment,
                        format!(
                            "{} assignments for {} new partitions",
                            a.len(),
                            count - current
                        ),
                    );
                }
                if let Err(m) = self.check_assignment(a) {
                    return refuse(Refusal::InvalidReplicaAssignment, m);
                }
                if a[0].len() != rf {
                    return refuse(
                        Refusal::InvalidReplicaAssignment,
                        format!(
                            "the new partitions have {} replicas, the topic's replication factor is {rf}",
                            a[0].len()
                        ),
                    );
                }
                Ok(a.to_vec())
            }
            None => match self.place(count, rf as i16) {
                Ok(all) => Ok(all[current as usize..].to_vec()),
                Err(m) => refuse(Refusal::InvalidReplicationFactor, m),
            },
        }
    }

    fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
        assignment: Option<&[Vec<i32>]>,
    ) -> Outcome {
        let added = match self.new_partitions(name, count, assignment) {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        let parts: Vec<PartitionState> = added.iter().map(|r| self.new_partition(r)).collect();
        if let Some(t) = self.topics.get_mut(name) {
            t.partitions.extend(parts);
        }
        Outcome::Ok
    }

    /// Checks a reassignment target: non-empty, distinct, registered brokers.
    pub fn check_target(&self, target: &[i32]) -> Result<(), String> {
        if target.is_empty() {
            return Err("the target replica list is empty".into());
        }
        for (i, r) in target.iter().enumerate() {
            if !self.brokers.contains_key(r) {
                return Err(format!("broker {r} is not registered"));
            }
            if target[..i].contains(r) {
                return Err(format!("broker {r} is listed twice"));
            }
        }
        Ok(())
    }

    fn alter_reassignment(
        &mut self,
        topic: &str,
        partition: i32,
        target: Option<&[i32]>,
    ) -> Outcome {
        let exists = self
            .topics
            .get(topic)
            .is_some_and(|t| usize::try_from(partition).is_ok_and(|i| i < t.partitions.len()));
        if !exists {
            return Outcome::Refused(
                Refusal::UnknownTopic,
                format!("{topic}-{partition} does not exist"),
            );
        }
        let ongoing = self
            .reassignments
            .get(topic)
            .and_then(|m| m.get(&partition))
            .cloned();
        let Some(target) = target else {
            let Some(r) = ongoing else {
                return Outcome::Refused(
                    Refusal::NoReassignmentInProgress,
                    format!("no reassignment of {topic}-{partition} is in progress"),
                );
            };
            return self.cancel_reassignment(topic, partition, &r);
        };
        if let Err(m) = self.check_target(target) {
            return Outcome::Refused(Refusal::InvalidReplicaAssignment, m);
        }
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return Outcome::Ok;
        };
        let original = ongoing.map_or_else(|| p.replicas.clone(), |r| r.original);
        // Kafka's union: the target first, then every current replica not in it.
        let mut union = target.to_vec();
        union.extend(p.replicas.iter().copied().filter(|r| !target.contains(r)));
        p.replicas = union;
        self.reassignments
            .entry(topic.to_string())
            .or_default()
            .insert(
                partition,
                Reassignment {
                    target: target.to_vec(),
                    original,
                },
            );
        self.complete_reassignment(topic, partition);
        Outcome::Ok
    }

    fn cancel_reassignment(&mut self, topic: &str, partition: i32, r: &Reassignment) -> Outcome {
        let eligible = self.eligible_leaders();
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return Outcome::Ok;
        };
        let isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|b| r.original.contains(b))
            .collect();
        if isr.is_empty() {
            return Outcome::Refused(
                Refusal::InvalidReplicaAssignment,
                format!("no original replica of {topic}-{partition} is in sync: cannot cancel"),
            );
        }
        p.replicas.clone_from(&r.original);
        p.isr = isr;
        if !p.isr.contains(&p.leader) {
            p.leader = pick_leader(&p.isr, &r.original, &eligible);
            p.leader_epoch += 1;
        }
        self.forget_reassignment(topic, partition);
        Outcome::Ok
    }

    fn forget_reassignment(&mut self, topic: &str, partition: i32) {
        if let Some(m) = self.reassignments.get_mut(topic) {
            m.remove(&partition);
            if m.is_empty() {
                self.reassignments.remove(topic);
            }
        }
    }

    /// Completes a reassignment whose target replicas are all in the ISR: replicas = target,
    /// the removed replicas leave the ISR, and leadership moves into the target if needed.
    fn complete_reassignment(&mut self, topic: &str, partition: i32) {
        let Some(r) = self
            .reassignments
            .get(topic)
            .and_then(|m| m.get(&partition))
            .cloned()
        else {
            return;
        };
        let eligible = self.eligible_leaders();
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return;
        };
        if !r.target.iter().all(|b| p.isr.contains(b)) {
            return;
        }
        p.replicas.clone_from(&r.target);
        p.isr.retain(|b| r.target.contains(b));
        if !r.target.contains(&p.leader) {
            p.leader = pick_leader(&p.isr, &r.target, &eligible);
            p.leader_epoch += 1;
        }
        self.forget_reassignment(topic, partition);
    }

    /// Whether `id` may take leadership: live, not draining, not shutting down.
    /// The registration of broker `id`, or the refusal for a command naming an unknown broker.
    fn registered(&mut self, id: i32) -> Result<&mut BrokerRegistration, Outcome> {
        self.brokers.get_mut(&id).ok_or_else(|| {
            Outcome::Refused(
                Refusal::UnknownBroker,
                format!("broker {id} is not registered"),
            )
        })
    }

    /// The brokers that may lead now (see `can_lead`), in id order.
    fn eligible_leaders(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| self.can_lead(b.id))
            .map(|b| b.id)
            .collect()
    }

    pub fn can_lead(&self, id: i32) -> bool {
        self.brokers
            .get(&id)
            .is_some_and(|b| !b.fenced && !b.maintenance && !b.shutting_down)
    }

    /// Moves every leadership of `id` to another in-sync replica that can lead (new epoch).
    /// Partitions with no such replica keep their leader: draining never makes one offline.
    fn move_leaderships_from(&mut self, id: i32) {
        let eligible: Vec<i32> = self
            .brokers
            .values()
            .filter(|b| b.id != id && !b.fenced && !b.maintenance && !b.shutting_down)
            .map(|b| b.id)
            .collect();
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if p.leader != id {
                    continue;
                }
                if let Some(next) = p.isr.iter().copied().find(|r| eligible.contains(r)) {
                    p.leader = next;
                    p.leader_epoch += 1;
                }
            }
        }
    }

    /// A broker came back: it leads again the partitions that were leaderless with it in the ISR.
    fn elect_for_returning(&mut self, id: i32) {
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if p.leader == NO_LEADER && p.isr.contains(&id) {
                    p.leader = id;
                    p.leader_epoch += 1;
                }
            }
        }
    }

    /// An explicit assignment: at least one partition, each with distinct registered brokers,
    /// all of the same replication factor.
    pub fn check_assignment(&self, a: &[Vec<i32>]) -> Result<(), String> {
        let Some(first) = a.first() else {
            return Err("the replica assignment lists no partition".into());
        };
        for (p, replicas) in a.iter().enumerate() {
            if replicas.is_empty() || replicas.len() != first.len() {
                return Err(format!(
                    "partition {p} has {} replicas; every partition needs the same non-zero count",
                    replicas.len()
                ));
            }
            for (i, r) in replicas.iter().enumerate() {
                if !self.brokers.contains_key(r) {
                    return Err(format!("partition {p} is assigned to unknown broker {r}"));
                }
                if replicas[..i].contains(r) {
                    return Err(format!("partition {p} lists broker {r} twice"));
                }
            }
        }
        Ok(())
    }

    /// Replica placement: round-robin over the live brokers (ordered by rack then id so that
    /// consecutive replicas land on different racks when racks are set), starting at a different
    /// broker for each partition.
    pub fn place(&self, partitions: i32, rf: i16) -> Result<Vec<Vec<i32>>, String> {
        let mut live: Vec<&BrokerRegistration> = self.live_brokers();
        if rf < 1 {
            return Err(format!("replication factor must be at least 1, got {rf}"));
        }
        if live.len() < rf as usize {
            return Err(format!(
                "replication factor {rf} is larger than the {} available brokers",
                live.len()
            ));
        }
        live.sort_by_key(|b| b.id);
        let ordered = rack_alternating(&live);
        let n = ordered.len();
        Ok((0..partitions as usize)
            .map(|p| (0..rf as usize).map(|r| ordered[(p + r) % n]).collect())
            .collect())
    }
}

/// The leader among `isr`: the first of `order` that is in sync and eligible, else the first
/// in-sync one of `order`.
fn pick_leader(isr: &[i32], order: &[i32], eligible: &[i32]) -> i32 {
    order
        .iter()
        .copied()
        .find(|r| isr.contains(r) && eligible.contains(r))
        .or_else(|| order.iter().copied().find(|r| isr.contains(r)))
        .unwrap_or(NO_LEADER)
}

/// Orders brokers so that neighbours sit on different racks: take one broker from each rack in
/// turn (racks sorted by name; brokers without a rack form their own group).
fn rack_alternating(brokers: &[&BrokerRegistration]) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for b in brokers {
        by_rack.entry(b.rack.as_deref()).or_default().push(b.id);
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut round = 0;
    while out.len() < brokers.len() {
        for ids in by_rack.values() {
            if let Some(id) = ids.get(round) {
                out.push(*id);
            }
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests;
