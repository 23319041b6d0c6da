//! The replicated metadata image (the Raft state machine's contents) and the commands that change
//! it. Every voter applies the same commands in the same order, so every broker derives the same
//! brokers, topics, partition leaders, ISRs and leader epochs.

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
}

impl ClusterImage {
    pub fn live_brokers(&self) -> Vec<&BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced).collect()
    }

    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::RegisterBroker {
                id,
                host,
                port,
                rack,
                cluster_id,
            } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id.clone_from(cluster_id);
                }
                let epoch = self.brokers.get(id).map_or(0, |b| b.epoch + 1);
                let maintenance = self.brokers.get(id).is_some_and(|b| b.maintenance);
                self.brokers.insert(
                    *id,
                    BrokerRegistration {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        epoch,
                        fenced: false,
                        maintenance,
                        shutting_down: false,
                    },
                );
                self.elect_for_returning(*id);
                Outcome::Ok
            }
            Command::FenceBroker { id } => {
                let b = match self.registered(*id) {
                    Ok(b) => b,
                    Err(refused) => return refused,
                };
                b.fenced = true;
                let live: Vec<i32> = self.live_brokers().iter().map(|b| b.id).collect();
                let eligible: Vec<i32> =
                    live.iter().copied().filter(|r| self.can_lead(*r)).collect();
                for t in self.topics.values_mut() {
                    for p in &mut t.partitions {
                        // Kafka keeps the last ISR member even when it dies: removing it would
                        // make any later election unclean.
                        if p.isr.contains(id) && p.isr.len() > 1 {
                            p.isr.retain(|r| r != id);
                        }
                        if p.leader == *id {
                            p.leader = p
                                .isr
                                .iter()
                                .copied()
                                .filter(|r| live.contains(r))
                                .min_by_key(|r| !eligible.contains(r))
                                .unwrap_or(NO_LEADER);
                            p.leader_epoch += 1;
                        }
                    }
                }
                Outcome::Ok
            }
            Command::UnfenceBroker { id } => {
                let b = match self.registered(*id) {
                    Ok(b) => b,
                    Err(refused) => return refused,
                };
                b.fenced = false;
                self.elect_for_returning(*id);
                Outcome::Ok
            }
            Command::CreateTopic {
                name,
                id,
                configs,
                assignment,
                partitions,
                replication_factor,
            } => {
                if self.topics.contains_key(name) {
                    return Outcome::Refused(
                        Refusal::TopicExists,
                        format!("topic {name} already exists"),
                    );
                }
                let assignment = match assignment {
                    Some(a) => {
                        if let Err(m) = self.check_assignment(a) {
                            return Outcome::Refused(Refusal::InvalidReplicaAssignment, m);
                        }
                        a.clone()
                    }
                    None => match self.place(*partitions, *replication_factor) {
                        Ok(a) => a,
                        Err(m) => return Outcome::Refused(Refusal::InvalidReplicationFactor, m),
                    },
                };
                let partitions = assignment
                    .iter()
                    .map(|replicas| {
                        let leader = replicas
                            .iter()
                            .copied()
                            .find(|r| self.is_live(*r))
                            .unwrap_or(NO_LEADER);
                        // A new partition is empty everywhere: every live replica is in sync.
                        let live: Vec<i32> = replicas
                            .iter()
                            .copied()
                            .filter(|r| self.is_live(*r))
                            .collect();
                        PartitionState {
                            replicas: replicas.clone(),
                            isr: if live.is_empty() {
                                replicas.iter().take(1).copied().collect()
                            } else {
                                live
                            },
                            leader,
                            leader_epoch: 0,
                        }
                    })
                    .collect();
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        id: *id,
                        configs: configs.clone(),
                        partitions,
                    },
                );
                Outcome::Ok
            }
            Command::SetMaintenance { id, on } => {
                let b = match self.registered(*id) {
                    Ok(b) => b,
                    Err(refused) => return refused,
                };
                b.maintenance = *on;
                if *on {
                    self.move_leaderships_from(*id);
                }
                Outcome::Ok
            }
            Command::ElectLeader {
                topic,
                partition,
                unclean,
            } => {
                let can_lead: Vec<i32> = self
                    .brokers
                    .values()
                    .filter(|b| !b.fenced && !b.maintenance && !b.shutting_down)
                    .map(|b| b.id)
                    .collect();
                let live: Vec<i32> = self.live_brokers().iter().map(|b| b.id).collect();
                let Some(p) = self.topics.get_mut(topic).and_then(|t| {
                    usize::try_from(*partition)
                        .ok()
                        .and_then(|i| t.partitions.get_mut(i))
                }) else {
                    return Outcome::Refused(
                        Refusal::UnknownTopic,
                        format!("{topic}-{partition} does not exist"),
                    );
                };
                if *unclean {
                    if p.leader >= 0 {
                        return Outcome::Refused(
                            Refusal::ElectionNotNeeded,
                            format!("{topic}-{partition} has a leader"),
                        );
                    }
                    // Out-of-sync replicas may lose acknowledged records: only when asked.
                    let Some(c) = p.replicas.iter().copied().find(|r| live.contains(r)) else {
                        return Outcome::Refused(
                            Refusal::EligibleLeadersNotAvailable,
                            format!("no replica of {topic}-{partition} is alive"),
                        );
                    };
                    p.leader = c;
                    p.isr = vec![c];
                    p.leader_epoch += 1;
                    return Outcome::Ok;
                }
                let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
                if p.leader == preferred {
                    return Outcome::Refused(
                        Refusal::ElectionNotNeeded,
                        format!("{topic}-{partition} is led by its preferred replica"),
                    );
                }
                if !p.isr.contains(&preferred) || !can_lead.contains(&preferred) {
                    return Outcome::Refused(
                        Refusal::PreferredLeaderNotAvailable,
                        format!(
                            "the preferred replica {preferred} of {topic}-{partition} is not in sync or cannot lead"
                        ),
                    );
                }
                p.leader = preferred;
                p.leader_epoch += 1;
                Outcome::Ok
            }
            Command::ControlledShutdown { id } => {
                let b = match self.registered(*id) {
                    Ok(b) => b,
                    Err(refused) => return refused,
                };
                b.shutting_down = true;
                self.move_leaderships_from(*id);
                // Like KRaft: a stopping broker leaves every ISR it is not the last member of,
                // so nobody waits on it and it rejoins only once caught up again.
                for t in self.topics.values_mut() {
                    for p in &mut t.partitions {
                        if p.leader != *id && p.isr.contains(id) && p.isr.len() > 1 {
                            p.isr.retain(|r| r != id);
                        }
                    }
                }
                Outcome::Ok
            }
            Command::AlterIsr {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
            } => {
                // A broker in controlled shutdown may not rejoin an ISR (as KIP-841): it still
                // fetches until it exits, and an ISR naming it would hold every acks=all write
                // until its session expires.
                let live: Vec<i32> = self
                    .live_brokers()
                    .iter()
                    .filter(|b| !b.shutting_down)
                    .map(|b| b.id)
                    .collect();
                let Some(p) = self
                    .topics
                    .get_mut(topic)
                    .and_then(|t| t.partitions.get_mut(*partition as usize))
                else {
                    return Outcome::Refused(
                        Refusal::UnknownTopic,
                        format!("{topic}-{partition} does not exist"),
                    );
                };
                if p.leader != *leader || p.leader_epoch != *leader_epoch || !isr.contains(leader) {
                    return Outcome::Refused(
                        Refusal::FencedLeaderEpoch,
                        format!("stale ISR change for {topic}-{partition}"),
                    );
                }
                // Only live replicas may join; members may always leave.
                let mut next: Vec<i32> = isr
                    .iter()
                    .copied()
                    .filter(|r| p.replicas.contains(r) && (p.isr.contains(r) || live.contains(r)))
                    .collect();
                next.dedup();
                p.isr = next;
                Outcome::Ok
            }
            Command::DeleteTopic { name } => {
                if self.topics.remove(name).is_none() {
                    return Outcome::Refused(
                        Refusal::UnknownTopic,
                        format!("topic {name} does not exist"),
                    );
                }
                Outcome::Ok
            }
        }
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
mod tests {
    use super::*;

    fn register(img: &mut ClusterImage, id: i32, rack: Option<&str>) {
        img.apply(&Command::RegisterBroker {
            id,
            host: "127.0.0.1".into(),
            port: 9092 + id as u16,
            rack: rack.map(str::to_string),
            cluster_id: "c".into(),
        });
    }

    #[test]
    fn placement_spreads_leaders_and_racks() {
        let mut img = ClusterImage::default();
        register(&mut img, 0, Some("a"));
        register(&mut img, 1, Some("a"));
        register(&mut img, 2, Some("b"));
        register(&mut img, 3, Some("b"));
        let a = img.place(4, 2).unwrap();
        let rack = |id: i32| img.brokers[&id].rack.clone();
        for replicas in &a {
            assert_ne!(rack(replicas[0]), rack(replicas[1]), "{a:?}");
        }
        let mut leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        leaders.sort_unstable();
        assert_eq!(leaders, vec![0, 1, 2, 3]);
        assert!(img.place(1, 5).is_err());
    }

    #[test]
    fn maintenance_and_controlled_shutdown_move_leadership_within_the_isr() {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            register(&mut img, id, None);
        }
        img.apply(&Command::CreateTopic {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            configs: BTreeMap::new(),
            assignment: Some(vec![vec![0, 1, 2]]),
            partitions: 1,
            replication_factor: 3,
        });
        img.apply(&Command::CreateTopic {
            name: "u".into(),
            id: uuid::Uuid::nil(),
            configs: BTreeMap::new(),
            assignment: Some(vec![vec![0]]),
            partitions: 1,
            replication_factor: 1,
        });
        img.apply(&Command::SetMaintenance { id: 0, on: true });
        let p = &img.topics["t"].partitions;
        assert_eq!((p[0].leader, p[0].leader_epoch), (1, 1));
        // RF=1: nowhere to move, it keeps its leader rather than going offline.
        let u = &img.topics["u"].partitions[0];
        assert_eq!((u.leader, u.leader_epoch), (0, 0));
        // Registering again keeps the operator's maintenance flag.
        register(&mut img, 0, None);
        assert!(img.brokers[&0].maintenance);
        img.apply(&Command::ControlledShutdown { id: 1 });
        let p = &img.topics["t"].partitions;
        assert_eq!(p[0].leader, 2, "moved to the replica not in maintenance");
        assert_eq!(p[0].isr, vec![0, 2], "the stopping broker left the ISR");
        // Still fetching until it exits, it may not rejoin.
        let rejoin = |img: &mut ClusterImage| {
            let p = img.topics["t"].partitions[0].clone();
            img.apply(&Command::AlterIsr {
                topic: "t".into(),
                partition: 0,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                isr: vec![0, 2, 1],
            });
            img.topics["t"].partitions[0].isr.clone()
        };
        assert_eq!(rejoin(&mut img), vec![0, 2]);
        register(&mut img, 1, None);
        assert!(!img.brokers[&1].shutting_down);
        assert_eq!(
            rejoin(&mut img),
            vec![0, 2, 1],
            "back after registering again"
        );
    }

    #[test]
    fn preferred_and_unclean_elections() {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            register(&mut img, id, None);
        }
        img.apply(&Command::CreateTopic {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            configs: BTreeMap::new(),
            assignment: Some(vec![vec![0, 1, 2]]),
            partitions: 1,
            replication_factor: 3,
        });
        let elect = |img: &mut ClusterImage, unclean| {
            img.apply(&Command::ElectLeader {
                topic: "t".into(),
                partition: 0,
                unclean,
            })
        };
        assert!(matches!(
            elect(&mut img, false),
            Outcome::Refused(Refusal::ElectionNotNeeded, _)
        ));
        img.apply(&Command::SetMaintenance { id: 0, on: true });
        assert!(matches!(
            elect(&mut img, false),
            Outcome::Refused(Refusal::PreferredLeaderNotAvailable, _)
        ));
        img.apply(&Command::SetMaintenance { id: 0, on: false });
        assert_eq!(elect(&mut img, false), Outcome::Ok);
        assert_eq!(img.topics["t"].partitions[0].leader, 0);
        // Unclean: only for a leaderless partition, onto a live out-of-sync replica.
        img.topics.get_mut("t").unwrap().partitions[0].isr = vec![0];
        img.apply(&Command::FenceBroker { id: 0 });
        assert_eq!(img.topics["t"].partitions[0].leader, NO_LEADER);
        assert_eq!(elect(&mut img, true), Outcome::Ok);
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
    }

    #[test]
    fn fencing_the_leader_elects_from_the_isr_only() {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            register(&mut img, id, None);
        }
        img.apply(&Command::CreateTopic {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            configs: BTreeMap::new(),
            assignment: Some(vec![vec![1, 2, 0]]),
            partitions: 1,
            replication_factor: 3,
        });
        let p = img.topics["t"].partitions[0].clone();
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2, 0]));
        img.topics.get_mut("t").unwrap().partitions[0].isr = vec![1];
        // The only in-sync replica dies: no unclean election, the partition goes offline.
        img.apply(&Command::FenceBroker { id: 1 });
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (NO_LEADER, 1));
        assert_eq!(p.isr, vec![1]);
        // It comes back: leader again with a new epoch.
        img.apply(&Command::UnfenceBroker { id: 1 });
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
        // With two in sync, fencing the leader moves leadership to the other one.
        img.topics.get_mut("t").unwrap().partitions[0].isr = vec![1, 2];
        img.apply(&Command::FenceBroker { id: 1 });
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 3));
    }
}
