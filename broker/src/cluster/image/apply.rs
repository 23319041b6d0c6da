//! The metadata state machine: one function per command kind, each checking the command
//! against the image and changing it (or refusing with a `Refusal`).

use super::{
    BrokerRegistration, ClusterImage, Command, NO_LEADER, Outcome, PartitionState, Refusal,
    TopicImage,
};
use std::collections::BTreeMap;

impl ClusterImage {
    /// Applies one committed command: the controller's state machine (`cluster/quorum.rs`)
    /// calls this for every log entry, in order, on every broker.
    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::RegisterBroker {
                id,
                host,
                port,
                rack,
                cluster_id,
                endpoints,
                supported_features,
            } => {
                if let Err(why) =
                    crate::features::check_supported(&self.features, supported_features)
                {
                    return Outcome::Refused(
                        Refusal::UnsupportedFeatureLevel,
                        format!("broker {id} cannot join: {why}"),
                    );
                }
                self.register_broker(
                    id,
                    (host, *port),
                    rack,
                    cluster_id,
                    endpoints,
                    supported_features,
                )
            }
            Command::FenceBroker { id } => self.fence_broker(id),
            Command::SetControllerAddress { id, addr } => self.set_controller_address(id, addr),
            Command::UnfenceBroker { id } => self.unfence_broker(id),
            Command::CreateTopic {
                name,
                id,
                configs,
                assignment,
                partitions,
                replication_factor,
            } => self.create_topic(
                name,
                id,
                configs,
                assignment,
                partitions,
                replication_factor,
            ),
            Command::SetMaintenance { id, on } => self.set_maintenance(id, on),
            Command::ElectLeader {
                topic,
                partition,
                unclean,
            } => self.elect_leader(topic, partition, unclean),
            Command::ControlledShutdown { id } => self.controlled_shutdown(id),
            Command::AlterIsr {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
            } => self.alter_isr(topic, partition, leader, leader_epoch, isr),
            Command::DeleteTopic { name } => self.delete_topic(name),
            Command::SetTopicConfigs {
                name,
                configs,
                expected,
            } => self.set_topic_configs(name, configs, expected),
            Command::SetBrokerConfigs {
                broker,
                configs,
                expected,
            } => self.set_broker_configs(broker, configs, expected),
            Command::CreatePartitions {
                name,
                count,
                assignment,
            } => self.create_partitions(name, *count, assignment.as_deref()),
            Command::AlterReassignment {
                topic,
                partition,
                target,
            } => self.alter_reassignment(topic, *partition, target.as_deref()),
            Command::AlterScramCredentials { alterations } => {
                crate::security::sasl::credentials::apply(&mut self.scram_credentials, alterations);
                Outcome::Ok
            }
            Command::CreateAcls { bindings } => {
                self.acls.extend(bindings.iter().cloned());
                Outcome::Ok
            }
            Command::DeleteAcls { bindings } => {
                for b in bindings {
                    self.acls.remove(b);
                }
                Outcome::Ok
            }
            Command::AlterClientQuotas { changes } => {
                self.client_quotas.apply(changes);
                Outcome::Ok
            }
            Command::UpdateFeatures {
                levels,
                expected_epoch,
            } => self.update_features(levels, *expected_epoch),
            Command::UnregisterBroker { id } => self.unregister_broker(*id),
        }
    }

    /// Applies `Command::RegisterBroker`.
    fn register_broker(
        &mut self,
        id: &i32,
        (host, port): (&str, u16),
        rack: &Option<String>,
        cluster_id: &str,
        endpoints: &[super::Endpoint],
        supported_features: &crate::features::Supported,
    ) -> Outcome {
        if self.cluster_id.is_empty() {
            cluster_id.clone_into(&mut self.cluster_id);
        }
        let epoch = self.brokers.get(id).map_or(0, |b| b.epoch + 1);
        let maintenance = self.brokers.get(id).is_some_and(|b| b.maintenance);
        self.brokers.insert(
            *id,
            BrokerRegistration {
                id: *id,
                host: host.to_string(),
                port,
                rack: rack.clone(),
                epoch,
                fenced: false,
                maintenance,
                shutting_down: false,
                endpoints: endpoints.to_vec(),
                supported_features: supported_features.clone(),
            },
        );
        self.elect_for_returning(*id);
        Outcome::Ok
    }

    /// Applies `Command::UnregisterBroker`.
    fn unregister_broker(&mut self, id: i32) -> Outcome {
        if !self.brokers.contains_key(&id) {
            return Outcome::Refused(
                Refusal::UnknownBroker,
                format!("broker {id} is not registered"),
            );
        }
        let mut holding: Vec<String> = Vec::new();
        for (name, t) in &self.topics {
            for (i, p) in t.partitions.iter().enumerate() {
                if p.replicas.contains(&id) {
                    holding.push(format!("{name}-{i}"));
                }
            }
        }
        for (name, parts) in &self.reassignments {
            for (i, r) in parts {
                if r.target.contains(&id) {
                    holding.push(format!("{name}-{i} (reassignment target)"));
                }
            }
        }
        if !holding.is_empty() {
            let n = holding.len();
            holding.truncate(5);
            return Outcome::Refused(
                Refusal::BrokerInUse,
                format!(
                    "broker {id} still holds {n} replica(s) ({}{}): reassign them first",
                    holding.join(", "),
                    if n > 5 { ", ..." } else { "" }
                ),
            );
        }
        self.brokers.remove(&id);
        self.controllers.remove(&id);
        self.broker_configs.remove(&id.to_string());
        Outcome::Ok
    }

    /// Applies `Command::UpdateFeatures`: compare-and-set on the epoch, and every registered
    /// broker must support every new level (one may have registered since the plan was made).
    fn update_features(&mut self, levels: &BTreeMap<String, i16>, expected_epoch: i64) -> Outcome {
        if self.features.epoch != expected_epoch {
            return Outcome::Refused(
                Refusal::ConfigChanged,
                "the finalized feature levels changed meanwhile; retry".into(),
            );
        }
        for b in self.brokers.values() {
            let candidate = crate::features::Finalized {
                epoch: expected_epoch,
                levels: levels.clone(),
            };
            if let Err(why) = crate::features::check_supported(&candidate, &b.supported_features) {
                return Outcome::Refused(
                    Refusal::UnsupportedFeatureLevel,
                    format!("broker {}: {why}", b.id),
                );
            }
        }
        self.features.levels.clone_from(levels);
        self.features.epoch += 1;
        Outcome::Ok
    }

    /// Applies `Command::FenceBroker`.
    fn fence_broker(&mut self, id: &i32) -> Outcome {
        let b = match self.registered(*id) {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        b.fenced = true;
        let live: Vec<i32> = self.live_brokers().iter().map(|b| b.id).collect();
        let eligible: Vec<i32> = live.iter().copied().filter(|r| self.can_lead(*r)).collect();
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

    /// Applies `Command::SetControllerAddress`.
    fn set_controller_address(&mut self, id: &i32, addr: &str) -> Outcome {
        if let Err(refused) = self.registered(*id) {
            return refused;
        }
        self.controllers.insert(*id, addr.to_string());
        Outcome::Ok
    }

    /// Applies `Command::UnfenceBroker`.
    fn unfence_broker(&mut self, id: &i32) -> Outcome {
        let b = match self.registered(*id) {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        b.fenced = false;
        self.elect_for_returning(*id);
        Outcome::Ok
    }

    /// Applies `Command::CreateTopic`.
    fn create_topic(
        &mut self,
        name: &str,
        id: &uuid::Uuid,
        configs: &BTreeMap<String, String>,
        assignment: &Option<Vec<Vec<i32>>>,
        partitions: &i32,
        replication_factor: &i16,
    ) -> Outcome {
        if self.topics.contains_key(name) {
            return Outcome::Refused(Refusal::TopicExists, format!("topic {name} already exists"));
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
            name.to_string(),
            TopicImage {
                name: name.to_string(),
                id: *id,
                configs: configs.clone(),
                partitions,
            },
        );
        Outcome::Ok
    }

    /// Applies `Command::SetMaintenance`.
    fn set_maintenance(&mut self, id: &i32, on: &bool) -> Outcome {
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

    /// Applies `Command::ElectLeader`.
    fn elect_leader(&mut self, topic: &str, partition: &i32, unclean: &bool) -> Outcome {
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

    /// Applies `Command::ControlledShutdown`.
    fn controlled_shutdown(&mut self, id: &i32) -> Outcome {
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

    /// Applies `Command::AlterIsr`.
    fn alter_isr(
        &mut self,
        topic: &str,
        partition: &i32,
        leader: &i32,
        leader_epoch: &i32,
        isr: &[i32],
    ) -> Outcome {
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
        self.complete_reassignment(topic, *partition);
        Outcome::Ok
    }

    /// Applies `Command::DeleteTopic`.
    fn delete_topic(&mut self, name: &str) -> Outcome {
        if self.topics.remove(name).is_none() {
            return Outcome::Refused(
                Refusal::UnknownTopic,
                format!("topic {name} does not exist"),
            );
        }
        self.reassignments.remove(name);
        Outcome::Ok
    }

    /// Applies `Command::SetTopicConfigs`.
    fn set_topic_configs(
        &mut self,
        name: &str,
        configs: &BTreeMap<String, String>,
        expected: &Option<BTreeMap<String, String>>,
    ) -> Outcome {
        match self.topics.get_mut(name) {
            Some(t) if expected.as_ref().is_some_and(|e| *e != t.configs) => Outcome::Refused(
                Refusal::ConfigChanged,
                format!("the configs of topic {name} changed meanwhile"),
            ),
            Some(t) => {
                t.configs.clone_from(configs);
                Outcome::Ok
            }
            None => Outcome::Refused(
                Refusal::UnknownTopic,
                format!("topic {name} does not exist"),
            ),
        }
    }

    /// Applies `Command::SetBrokerConfigs`.
    fn set_broker_configs(
        &mut self,
        broker: &str,
        configs: &BTreeMap<String, String>,
        expected: &Option<BTreeMap<String, String>>,
    ) -> Outcome {
        let current = self.broker_configs.get(broker).cloned().unwrap_or_default();
        if expected.as_ref().is_some_and(|e| *e != current) {
            return Outcome::Refused(
                Refusal::ConfigChanged,
                format!("the configs of broker {broker:?} changed meanwhile"),
            );
        }
        if configs.is_empty() {
            self.broker_configs.remove(broker);
        } else {
            self.broker_configs
                .insert(broker.to_string(), configs.clone());
        }
        Outcome::Ok
    }
}
