//! The consumer protocol's embedded messages, as a mixed group (KIP-848 online migration)
//! reads and writes them for its classic members: the `ConsumerProtocolSubscription` a classic
//! consumer puts in its JoinGroup metadata and the `ConsumerProtocolAssignment` it expects back
//! from SyncGroup. Each is a version header followed by the message at that version; a newer
//! version than this broker knows is read as the newest it knows, as Kafka's `ConsumerProtocol`
//! does (later versions only add fields at the end).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedPartitions,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};

/// Partitions by topic name.
pub type Partitions = Vec<(String, Vec<i32>)>;

/// A classic member's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub version: i16,
    pub topics: Vec<String>,
    /// v1+: what the member still owns (cooperative members; eager ones own nothing here).
    pub owned: Partitions,
    pub rack_id: Option<String>,
}

/// Reads a JoinGroup protocol's metadata; `None` when it is not a consumer subscription.
pub fn decode_subscription(metadata: &[u8]) -> Option<Subscription> {
    let mut buf = Bytes::copy_from_slice(metadata);
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    let known = version.min(<ConsumerProtocolSubscription as Message>::VERSIONS.max);
    let s = ConsumerProtocolSubscription::decode(&mut buf, known).ok()?;
    Some(Subscription {
        version,
        topics: s.topics.iter().map(ToString::to_string).collect(),
        owned: s
            .owned_partitions
            .into_iter()
            .map(|tp| (tp.topic.0.to_string(), tp.partitions))
            .collect(),
        rack_id: s.rack_id.map(|r| r.to_string()).filter(|r| !r.is_empty()),
    })
}

/// Reads a SyncGroup assignment; an empty one (a member that has none yet) is no partitions.
pub fn decode_assignment(assignment: &[u8]) -> Option<Partitions> {
    if assignment.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = Bytes::copy_from_slice(assignment);
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    let known = version.min(<ConsumerProtocolAssignment as Message>::VERSIONS.max);
    let a = ConsumerProtocolAssignment::decode(&mut buf, known).ok()?;
    Some(
        a.assigned_partitions
            .into_iter()
            .map(|tp| (tp.topic.0.to_string(), tp.partitions))
            .collect(),
    )
}

/// Writes an assignment at the version of the member's subscription (capped at the newest this
/// broker knows), as Kafka answers a classic member of a consumer group.
pub fn encode_assignment(version: i16, partitions: &Partitions) -> Vec<u8> {
    let version = version.clamp(0, <ConsumerProtocolAssignment as Message>::VERSIONS.max);
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(
        partitions
            .iter()
            .map(|(t, ps)| {
                AssignedPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(t.clone())))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // Encoding a well-formed message into memory cannot fail.
    let _ = msg.encode(&mut buf, version);
    buf.to_vec()
}

/// Writes a subscription (tests: what a classic consumer sends in JoinGroup).
#[cfg(test)]
pub fn encode_subscription(version: i16, topics: &[&str], owned: &Partitions) -> Vec<u8> {
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;
    let s = ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string((*t).to_string()))
                .collect(),
        )
        .with_owned_partitions(
            owned
                .iter()
                .map(|(t, ps)| {
                    Owned::default()
                        .with_topic(TopicName(StrBytes::from_string(t.clone())))
                        .with_partitions(ps.clone())
                })
                .collect(),
        );
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    s.encode(&mut buf, version.clamp(0, 3)).unwrap();
    buf.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;

    fn subscription(version: i16) -> Vec<u8> {
        let s = ConsumerProtocolSubscription::default()
            .with_topics(vec![
                StrBytes::from_static_str("a"),
                StrBytes::from_static_str("b"),
            ])
            .with_owned_partitions(vec![
                Owned::default()
                    .with_topic(TopicName(StrBytes::from_static_str("a")))
                    .with_partitions(vec![0, 2]),
            ])
            .with_rack_id(Some(StrBytes::from_static_str("r1")));
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        s.encode(&mut buf, version.min(3)).unwrap();
        buf.to_vec()
    }

    #[test]
    fn subscriptions_of_every_version_are_read() {
        let v0 = decode_subscription(&subscription(0)).unwrap();
        assert_eq!(v0.topics, ["a", "b"]);
        assert!(v0.owned.is_empty(), "v0 has no owned partitions");
        let v3 = decode_subscription(&subscription(3)).unwrap();
        assert_eq!(v3.owned, vec![("a".to_string(), vec![0, 2])]);
        assert_eq!(v3.rack_id.as_deref(), Some("r1"));
        // A future version is read as the newest known.
        let v9 = decode_subscription(&subscription(9)).unwrap();
        assert_eq!((v9.version, v9.topics.len()), (9, 2));
        assert_eq!(decode_subscription(b"\x00"), None);
        assert_eq!(decode_subscription(b"\x00\x00\x00\x00\x00\x05"), None);
    }

    #[test]
    fn assignments_round_trip() {
        let parts = vec![("a".to_string(), vec![1, 3]), ("b".to_string(), vec![0])];
        for v in [0, 1, 3, 7] {
            let bytes = encode_assignment(v, &parts);
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), v.min(3));
            assert_eq!(decode_assignment(&bytes).unwrap(), parts);
        }
        assert_eq!(decode_assignment(b"").unwrap(), vec![]);
        assert_eq!(decode_assignment(b"\x00"), None);
    }
}
