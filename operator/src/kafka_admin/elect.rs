//! Preferred-leader election through the admin client (ElectLeaders, type preferred): after a
//! rebalance reorders replicas, the first replica leads again without waiting for the brokers'
//! periodic automatic balancing.

use std::collections::BTreeMap;

use kafka_protocol::messages::ElectLeadersRequest;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;

use super::{AdminClient, Error, check, topic_name};

/// ElectLeaders' election type "preferred".
const PREFERRED: i8 = 0;
/// ELECTION_NOT_NEEDED: the preferred replica leads already.
const ELECTION_NOT_NEEDED: i16 = 84;

impl AdminClient {
    /// Elects the preferred replica of each partition. Returns the partitions the brokers
    /// refused, `topic-partition: reason` (a preferred replica out of sync is refused, and
    /// stays so until it catches up).
    ///
    /// # Errors
    /// Protocol errors or a request-level refusal.
    pub async fn elect_preferred(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<Vec<String>, Error> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in partitions {
            by_topic.entry(topic).or_default().push(*partition);
        }
        let req = ElectLeadersRequest::default()
            .with_election_type(PREFERRED)
            .with_timeout_ms(self.timeout_ms)
            .with_topic_partitions(Some(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        TopicPartitions::default()
                            .with_topic(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            ));
        let resp = self.conn.call(&req, 1).await?;
        check("elect leaders", resp.error_code, None)?;
        let mut refused = Vec::new();
        for t in resp.replica_election_results {
            for p in t.partition_result {
                if p.error_code != 0 && p.error_code != ELECTION_NOT_NEEDED {
                    refused.push(format!(
                        "{}-{}: {}",
                        t.topic.0,
                        p.partition_id,
                        Error::Kafka {
                            op: "elect leaders",
                            code: p.error_code,
                            message: p.error_message.map(|m| m.to_string()).unwrap_or_default(),
                        }
                    ));
                }
            }
        }
        Ok(refused)
    }
}
