//! The admin calls a safe scale-down needs: the cluster's layout (every topic, internal ones
//! included, with its replicas, and the registered brokers with their racks), reassignments in
//! progress, starting and cancelling reassignments, the replication throttle, the brokers' disk
//! (DescribeLogDirs, answered by each broker for itself) and UnregisterBroker.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, DescribeLogDirsRequest,
    ListPartitionReassignmentsRequest, MetadataRequest, UnregisterBrokerRequest,
};

use super::{AdminClient, Error, check, topic_name};
use crate::cluster::drain::Placement;

/// Config resource type of brokers (name `""`: the cluster-wide default).
const RESOURCE_BROKER: i8 = 4;

/// Every partition's replicas and the registered brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Every partition of every topic (internal ones included).
    pub placements: Vec<Placement>,
    /// Registered broker ids.
    pub brokers: BTreeSet<i32>,
    /// Racks of the brokers that have one.
    pub racks: BTreeMap<i32, String>,
}

/// One broker's disk as it reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disk {
    /// Bytes each partition takes, `(topic, partition)`.
    pub sizes: BTreeMap<(String, i32), i64>,
    /// Usable (free) bytes over its log directories; `None` when it does not say.
    pub usable: Option<i64>,
    /// Total bytes over its log directories; `None` when it does not say.
    pub total: Option<i64>,
}

impl AdminClient {
    /// The cluster's layout (Metadata for every topic).
    ///
    /// # Errors
    /// Protocol or broker errors, or a topic the broker reports with an error.
    pub async fn layout(&mut self) -> Result<Layout, Error> {
        let mut req = MetadataRequest::default();
        req.topics = None;
        req.allow_auto_topic_creation = false;
        let resp = self.conn.call(&req, 12).await?;
        let mut layout = Layout::default();
        for b in &resp.brokers {
            layout.brokers.insert(b.node_id.0);
            if let Some(rack) = &b.rack {
                layout.racks.insert(b.node_id.0, rack.to_string());
            }
        }
        for t in resp.topics {
            let name = t
                .name
                .as_ref()
                .map(|n| n.0.to_string())
                .ok_or_else(|| Error::Codec("a topic without a name in Metadata".into()))?;
            check("metadata", t.error_code, None)?;
            for p in t.partitions {
                layout.placements.push(Placement {
                    topic: name.clone(),
                    partition: p.partition_index,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                });
            }
        }
        Ok(layout)
    }

    /// Reassignments in progress: `(topic, partition)` → target replicas.
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn reassignments(&mut self) -> Result<BTreeMap<(String, i32), Vec<i32>>, Error> {
        let mut req = ListPartitionReassignmentsRequest::default();
        req.timeout_ms = self.timeout_ms;
        req.topics = None;
        let resp = self.conn.call(&req, 0).await?;
        check(
            "list reassignments",
            resp.error_code,
            resp.error_message.as_ref(),
        )?;
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                // The target: the replicas being added plus those staying (not removed).
                let target: Vec<i32> = p
                    .replicas
                    .iter()
                    .map(|b| b.0)
                    .filter(|b| !p.removing_replicas.iter().any(|r| r.0 == *b))
                    .collect();
                out.insert((t.name.0.to_string(), p.partition_index), target);
            }
        }
        Ok(out)
    }

    /// Starts (`Some(replicas)`) or cancels (`None`) reassignments. Returns the partitions the
    /// broker refused, `topic-partition: reason`.
    ///
    /// # Errors
    /// Protocol errors or a request-level refusal.
    pub async fn alter_reassignments(
        &mut self,
        changes: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<String>, Error> {
        let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for (topic, partition, replicas) in changes {
            let mut p = ReassignablePartition::default();
            p.partition_index = *partition;
            p.replicas = replicas
                .as_ref()
                .map(|r| r.iter().map(|b| BrokerId(*b)).collect());
            by_topic.entry(topic).or_default().push(p);
        }
        let mut req = AlterPartitionReassignmentsRequest::default();
        req.timeout_ms = self.timeout_ms;
        req.topics = by_topic
            .into_iter()
            .map(|(name, partitions)| {
                let mut t = ReassignableTopic::default();
                t.name = topic_name(name);
                t.partitions = partitions;
                t
            })
            .collect();
        let resp = self.conn.call(&req, 0).await?;
        check(
            "alter reassignments",
            resp.error_code,
            resp.error_message.as_ref(),
        )?;
        let mut refused = Vec::new();
        for t in resp.responses {
            for p in t.partitions {
                if p.error_code != 0 {
                    refused.push(format!(
                        "{}-{}: {}",
                        t.name.0,
                        p.partition_index,
                        Error::Kafka {
                            op: "reassign",
                            code: p.error_code,
                            message: p.error_message.map(|m| m.to_string()).unwrap_or_default(),
                        }
                    ));
                }
            }
        }
        Ok(refused)
    }

    /// Sets `set` and removes `delete` in the cluster-wide broker config (resource `""`).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn alter_cluster_config(
        &mut self,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), Error> {
        self.alter_configs(RESOURCE_BROKER, "", set, delete).await
    }

    /// This broker's disk: the size of each partition it holds and its free space.
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn disk(&mut self) -> Result<Disk, Error> {
        let mut req = DescribeLogDirsRequest::default();
        req.topics = None;
        let resp = self.conn.call(&req, 4).await?;
        check("describe log dirs", resp.error_code, None)?;
        let mut disk = Disk::default();
        for dir in resp.results {
            check("describe log dirs", dir.error_code, None)?;
            for t in dir.topics {
                for p in t.partitions {
                    *disk
                        .sizes
                        .entry((t.name.0.to_string(), p.partition_index))
                        .or_default() += p.partition_size;
                }
            }
            if dir.usable_bytes >= 0 {
                *disk.usable.get_or_insert(0) += dir.usable_bytes;
            }
            if dir.total_bytes >= 0 {
                *disk.total.get_or_insert(0) += dir.total_bytes;
            }
        }
        Ok(disk)
    }

    /// Forgets a drained broker (UnregisterBroker).
    ///
    /// # Errors
    /// Protocol errors or the broker's refusal (it still holds replicas, is a voter, or is not
    /// registered — `BROKER_ID_NOT_REGISTERED`, code 102).
    pub async fn unregister_broker(&mut self, id: i32) -> Result<(), Error> {
        let mut req = UnregisterBrokerRequest::default();
        req.broker_id = BrokerId(id);
        let resp = self.conn.call(&req, 0).await?;
        check(
            "unregister broker",
            resp.error_code,
            resp.error_message.as_ref(),
        )
    }
}
