//! Group APIs at the wire level, on versions real clients in the other tests do not send:
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! FindCoordinator batches and transaction keys, JoinGroup's MEMBER_ID_REQUIRED handshake,
//! OffsetCommit/OffsetFetch v8+ (batched groups, metadata, leader epoch), ListGroups state
//! filters, OffsetDelete and DeleteGroups.

mod common;
mod wire;
use common::TestBroker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use wire::Wire;

/// The shared wire client (tests/wire) bound to one test broker.
struct Client(Wire);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Client {
    fn connect(b: &TestBroker) -> Self {
        Client(Wire::connect(&b.bootstrap()))
    }

    fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.0.call(req, version)
    }
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn broker() -> TestBroker {
    TestBroker::start(&[
        "num.partitions=2",
        "group.initial.rebalance.delay.ms=0",
        "group.min.session.timeout.ms=1000",
    ])
}

/// Creates topic `t` (2 partitions) through Metadata auto-creation.
fn create_topic(c: &mut Client, name: &str) {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(name)))),
        ]))
        .with_allow_auto_topic_creation(true);
    let resp = c.call(&req, 9);
    assert_eq!(resp.topics[0].error_code, 0);
}

#[test]
fn find_coordinator_groups_batches_and_transactions() {
    let b = broker();
    let mut c = Client::connect(&b);
    for v in 0..=3 {
        let resp = c.call(&FindCoordinatorRequest::default().with_key(s("g")), v);
        assert_eq!(resp.error_code, 0, "v{v}");
        assert_eq!(resp.port, i32::from(b.port), "v{v}");
        assert_eq!(resp.host.as_str(), "127.0.0.1");
    }
    let resp = c.call(
        &FindCoordinatorRequest::default()
            .with_key(s("tx"))
            .with_key_type(1),
        3,
    );
    // Transaction coordinators (key type 1): this broker too (broker/tests/transactions.rs).
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.port, i32::from(b.port));
    let resp = c.call(
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]),
        4,
    );
    assert_eq!(resp.coordinators.len(), 2);
    assert!(resp.coordinators.iter().all(|k| k.error_code == 0));
    let resp = c.call(
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("tx")]),
        6,
    );
    assert_eq!(resp.coordinators[0].error_code, 0);
    assert_eq!(resp.coordinators[0].port, i32::from(b.port));
}

fn join(c: &mut Client, member: &str, v: i16) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s("wg")))
        .with_session_timeout_ms(5000)
        .with_rebalance_timeout_ms(5000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't'])),
        ]);
    c.call(&req, v)
}

#[test]
fn join_sync_commit_fetch_list_and_delete_on_the_wire() {
    let b = broker();
    let mut c = Client::connect(&b);
    create_topic(&mut c, "t");
    // JoinGroup v5+: first MEMBER_ID_REQUIRED with an id, then the real join.
    let first = join(&mut c, "", 9);
    assert_eq!(first.error_code, code(ResponseError::MemberIdRequired));
    let member = first.member_id.to_string();
    assert!(member.starts_with("wire-test-"));
    let joined = join(&mut c, &member, 9);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader.as_str(), member);
    assert_eq!(joined.protocol_name.as_ref().unwrap().as_str(), "range");
    assert_eq!(joined.members.len(), 1);
    let sync = c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s("wg")))
            .with_generation_id(1)
            .with_member_id(s(&member))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(bytes::Bytes::from_static(b"assigned")),
            ]),
        5,
    );
    assert_eq!(sync.error_code, 0);
    assert_eq!(sync.assignment.as_ref(), b"assigned");
    let hb = c.call(
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("wg")))
            .with_generation_id(0)
            .with_member_id(s(&member)),
        4,
    );
    assert_eq!(hb.error_code, code(ResponseError::IllegalGeneration));
    // An admin commit (generation -1, no member id) to a group with members: Kafka answers
    // UNKNOWN_MEMBER_ID (issue 17; it used to be ILLEGAL_GENERATION).
    let admin = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s("wg")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(1),
                    ]),
            ]),
        8,
    );
    assert_eq!(
        admin.topics[0].partitions[0].error_code,
        code(ResponseError::UnknownMemberId)
    );

    // OffsetCommit v9 with a leader epoch and metadata; an unknown topic fails on its own.
    let commit = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s("wg")))
            .with_generation_id_or_member_epoch(1)
            .with_member_id(s(&member))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(7)
                            .with_committed_leader_epoch(3)
                            .with_committed_metadata(Some(s("meta"))),
                    ]),
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("nope")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(1),
                    ]),
            ]),
        9,
    );
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        commit.topics[1].partitions[0].error_code,
        code(ResponseError::UnknownTopicOrPartition)
    );

    // OffsetFetch v8: two groups in one request, all partitions (null topics).
    let fetch = c.call(
        &OffsetFetchRequest::default()
            .with_require_stable(true)
            .with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("wg")))
                    .with_topics(None),
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("other")))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s("t")))
                            .with_partition_indexes(vec![0]),
                    ])),
            ]),
        8,
    );
    let g = &fetch.groups[0];
    assert_eq!(g.topics.len(), 1);
    let p = &g.topics[0].partitions[0];
    assert_eq!((p.partition_index, p.committed_offset), (1, 7));
    assert_eq!(p.committed_leader_epoch, 3);
    assert_eq!(p.metadata.as_ref().unwrap().as_str(), "meta");
    assert_eq!(fetch.groups[1].topics[0].partitions[0].committed_offset, -1);
    // OffsetFetch v1 (old clients): no leader epoch on the wire.
    let old = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s("wg")))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![1]),
            ])),
        1,
    );
    assert_eq!(old.topics[0].partitions[0].committed_offset, 7);

    // ListGroups v4 with a state filter, v0 without.
    let listed = c.call(
        &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
        4,
    );
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].group_state.as_str(), "Stable");
    let listed = c.call(
        &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
        5,
    );
    assert!(listed.groups.is_empty());
    assert_eq!(c.call(&ListGroupsRequest::default(), 0).groups.len(), 1);

    // OffsetDelete of a subscribed topic is refused while the member is there.
    let del = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("wg")))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default()
                        .with_partition_index(1),
                ]),
        ]);
    let resp = c.call(&del, 0);
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        code(ResponseError::GroupSubscribedToTopic)
    );
    let groups = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("wg"))]);
    assert_eq!(
        c.call(&groups, 2).results[0].error_code,
        code(ResponseError::NonEmptyGroup)
    );

    // LeaveGroup v5 (batched): the group empties; then offsets and the group can go.
    let leave = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s("wg")))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s(&member)),
                leave_group_request::MemberIdentity::default().with_member_id(s("ghost")),
            ]),
        5,
    );
    assert_eq!(leave.members[0].error_code, 0);
    assert_eq!(
        leave.members[1].error_code,
        code(ResponseError::UnknownMemberId)
    );
    let described = c.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("wg")), GroupId(s("x"))]),
        5,
    );
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");
    let resp = c.call(&del, 0);
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(c.call(&groups, 2).results[0].error_code, 0);
    assert_eq!(
        c.call(&groups, 2).results[0].error_code,
        code(ResponseError::GroupIdNotFound)
    );
    let described = c.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("wg"))]),
        6,
    );
    assert_eq!(
        described.groups[0].error_code,
        code(ResponseError::GroupIdNotFound)
    );
}

#[test]
fn membership_survives_a_restart() {
    let mut b = broker();
    let mut c = Client::connect(&b);
    create_topic(&mut c, "t");
    let member = join(&mut c, "", 9).member_id.to_string();
    join(&mut c, &member, 9);
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("wg")))
        .with_generation_id(1)
        .with_member_id(s(&member))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(bytes::Bytes::from_static(b"mine")),
        ]);
    assert_eq!(c.call(&sync, 3).error_code, 0);
    drop(c);
    b.kill9();
    b.spawn();
    let mut c = Client::connect(&b);
    // The member keeps its generation and assignment across the crash.
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s("wg")))
        .with_generation_id(1)
        .with_member_id(s(&member));
    assert_eq!(c.call(&hb, 4).error_code, 0);
    let again = c.call(&sync, 3);
    assert_eq!(again.error_code, 0);
    assert_eq!(again.assignment.as_ref(), b"mine");
}

fn simple_commit(c: &mut Client, group: &str, offset: i64) {
    let resp = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(offset)
                            .with_committed_metadata(Some(s(&format!("m{offset}")))),
                    ]),
            ]),
        8,
    );
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
}

fn fetched(c: &mut Client, group: &str) -> (i64, String) {
    let resp = c.call(
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(None),
        ]),
        8,
    );
    let p = &resp.groups[0].topics[0].partitions[0];
    (p.committed_offset, p.metadata.as_ref().unwrap().to_string())
}

fn offsets_log_start(c: &mut Client) -> i64 {
    let resp = c.call(
        &ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(s("__consumer_offsets")))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-2),
                ]),
        ]),
        7,
    );
    resp.topics[0].partitions[0].offset
}

#[test]
fn offsets_log_is_compacted_at_start() {
    let mut b = broker();
    let mut c = Client::connect(&b);
    create_topic(&mut c, "t");
    for i in 0..1100 {
        simple_commit(&mut c, "many", i);
    }
    simple_commit(&mut c, "other", 5);
    assert_eq!(offsets_log_start(&mut c), 0);
    drop(c);
    b.kill9();
    b.spawn();
    let mut c = Client::connect(&b);
    assert_eq!(fetched(&mut c, "many"), (1099, "m1099".into()));
    assert_eq!(fetched(&mut c, "other"), (5, "m5".into()));
    assert_eq!(
        offsets_log_start(&mut c),
        1101,
        "the superseded history was cut"
    );
    drop(c);
    b.kill9();
    b.spawn();
    let mut c = Client::connect(&b);
    assert_eq!(fetched(&mut c, "many"), (1099, "m1099".into()));
    assert_eq!(fetched(&mut c, "other"), (5, "m5".into()));
}

/// KIP-848 at the wire level: ConsumerGroupHeartbeat (v0 coordinator-made member ids and v1
/// client-made ones), ConsumerGroupDescribe, ListGroups' group types, OffsetCommit v9 with the
/// member epoch, and a classic member hosted by a consumer group.
#[test]
fn consumer_group_heartbeat_describe_list_and_commit() {
    let b = broker();
    let mut c = Client::connect(&b);
    create_topic(&mut c, "kt");
    let join = |member: &str| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_member_id(s(member))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(5000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("kt"))]))
            .with_topic_partitions(Some(vec![]))
    };
    // v0: the coordinator names the member.
    let a = c.call(&join(""), 0);
    assert_eq!(a.error_code, 0, "{a:?}");
    let a_id = a.member_id.clone().unwrap().to_string();
    assert!(!a_id.is_empty());
    assert_eq!(a.member_epoch, 1);
    let parts: usize = a
        .assignment
        .as_ref()
        .unwrap()
        .topic_partitions
        .iter()
        .map(|t| t.partitions.len())
        .sum();
    assert_eq!(parts, 2);
    // v1: the client names the member; it gets nothing until `a` revokes one partition.
    let bm = c.call(&join("client-made-b"), 1);
    assert_eq!(bm.error_code, 0, "{bm:?}");
    assert_eq!(bm.member_id.as_deref(), Some("client-made-b"));
    assert_eq!(bm.member_epoch, 2);

    let d = c.call(
        &ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(s("kg")), GroupId(s("nope"))]),
        1,
    );
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Reconciling");
    assert_eq!(g.group_epoch, 2);
    assert_eq!(g.assignment_epoch, 2);
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members.len(), 2);
    let target: usize = g
        .members
        .iter()
        .map(|m| {
            m.target_assignment
                .topic_partitions
                .iter()
                .map(|t| t.partitions.len())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(target, 2, "{g:?}");
    assert!(g.members.iter().all(|m| {
        m.target_assignment
            .topic_partitions
            .iter()
            .all(|t| t.topic_name.as_str() == "kt")
    }));
    assert_eq!(d.groups[1].error_code, code(ResponseError::GroupIdNotFound));
    // DescribeGroups describes classic groups only, as Kafka 4.
    let mut classic_view = |v| {
        c.call(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("kg"))]),
            v,
        )
        .groups
        .remove(0)
    };
    let v5 = classic_view(5);
    assert_eq!((v5.error_code, v5.group_state.as_str()), (0, "Dead"));
    let v6 = classic_view(6);
    assert_eq!(v6.error_code, code(ResponseError::GroupIdNotFound));
    assert_eq!(
        v6.error_message.as_deref(),
        Some("Group kg is not a classic group.")
    );

    // ListGroups v5 shows its type.
    let l = c.call(&ListGroupsRequest::default(), 5);
    let listed = l
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "kg")
        .unwrap();
    assert_eq!(listed.group_type.as_str(), "consumer");
    let classic_only = c.call(
        &ListGroupsRequest::default().with_types_filter(vec![s("classic")]),
        5,
    );
    assert!(
        classic_only
            .groups
            .iter()
            .all(|g| g.group_id.as_str() != "kg")
    );

    // OffsetCommit v9 with the member epoch: the current one commits, an old one is stale.
    let commit = |epoch: i32| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_member_id(s(&a_id))
            .with_generation_id_or_member_epoch(epoch)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("kt")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0),
                    ]),
            ])
    };
    let ok = c.call(&commit(1), 9);
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    let stale = c.call(&commit(0), 9);
    assert_eq!(
        stale.topics[0].partitions[0].error_code,
        code(ResponseError::StaleMemberEpoch)
    );

    // A classic member joins it (KIP-848 online migration): it learns its member id, then
    // joins at its member epoch with no leader and no member list (the broker assigns), and
    // SyncGroup returns its partitions; it leaves with LeaveGroup. Metadata that is not a
    // consumer subscription, or another protocol type, is INCONSISTENT_GROUP_PROTOCOL.
    let classic_join = |member: &str, metadata: &'static [u8], protocol_type: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_member_id(s(member))
            .with_session_timeout_ms(6000)
            .with_rebalance_timeout_ms(6000)
            .with_protocol_type(s(protocol_type))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(bytes::Bytes::from_static(metadata)),
            ])
    };
    // ConsumerProtocolSubscription v0: topics ["kt"], no user data.
    const SUB: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 2, b'k', b't', 255, 255, 255, 255];
    let first = c.call(&classic_join("", SUB, "consumer"), 5);
    assert_eq!(first.error_code, code(ResponseError::MemberIdRequired));
    let cid = first.member_id.to_string();
    let joined = c.call(&classic_join(&cid, SUB, "consumer"), 5);
    assert_eq!(joined.error_code, 0, "{joined:?}");
    assert_eq!(
        joined.generation_id, 3,
        "a new member moves the group epoch"
    );
    assert_eq!(joined.leader.as_str(), "");
    assert!(joined.members.is_empty());
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    let synced = c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_member_id(s(&cid))
            .with_generation_id(joined.generation_id)
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range"))),
        5,
    );
    assert_eq!(synced.error_code, 0, "{synced:?}");
    assert_eq!(
        synced.assignment[..2],
        [0, 0],
        "a v0 assignment: {synced:?}"
    );
    let beat = c.call(
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_member_id(s(&cid))
            .with_generation_id(joined.generation_id - 1),
        4,
    );
    assert_eq!(beat.error_code, code(ResponseError::IllegalGeneration));
    let d = c.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("kg"))]),
        0,
    );
    assert_eq!(d.groups[0].members.len(), 3);
    let left = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s(&cid)),
            ]),
        5,
    );
    assert_eq!(left.members[0].error_code, 0);
    let inconsistent = code(ResponseError::InconsistentGroupProtocol);
    let malformed = c.call(&classic_join("", &[0, 0, 0, 0], "consumer"), 5);
    assert_eq!(malformed.error_code, inconsistent);
    let connect = c.call(&classic_join("", SUB, "connect"), 5);
    assert_eq!(connect.error_code, inconsistent);
    let fenced = c.call(
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("kg")))
            .with_member_id(s(&a_id))
            .with_member_epoch(9)
            .with_rebalance_timeout_ms(-1),
        0,
    );
    assert_eq!(fenced.error_code, code(ResponseError::FencedMemberEpoch));
    let bad = c.call(&join("x").with_server_assignor(Some(s("nope"))), 1);
    assert_eq!(bad.error_code, code(ResponseError::UnsupportedAssignor));
    assert!(bad.error_message.unwrap().contains("uniform, range"));

    // Both leave: the group is gone from the consumer groups.
    for (id, v) in [(a_id.as_str(), 0), ("client-made-b", 1)] {
        let left = c.call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("kg")))
                .with_member_id(s(id))
                .with_member_epoch(-1)
                .with_rebalance_timeout_ms(-1),
            v,
        );
        assert_eq!(left.error_code, 0);
        assert_eq!(left.member_epoch, -1);
    }
    let d = c.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("kg"))]),
        0,
    );
    assert_eq!(d.groups[0].error_code, code(ResponseError::GroupIdNotFound));
}

/// A KIP-848 group is persisted in `__consumer_offsets`: after a restart (graceful and kill -9)
/// its members carry on at their epochs with their assignments, without rejoining.
#[test]
fn consumer_group_membership_survives_restarts() {
    let mut b = broker();
    let mut c = Client::connect(&b);
    create_topic(&mut c, "pt");
    let hb = |member: &str, epoch: i32| {
        let r = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("pg")))
            .with_member_id(s(member))
            .with_member_epoch(epoch);
        if epoch == 0 {
            r.with_rebalance_timeout_ms(5000)
                .with_subscribed_topic_names(Some(vec![TopicName(s("pt"))]))
                .with_topic_partitions(Some(vec![]))
        } else {
            r.with_rebalance_timeout_ms(-1)
        }
    };
    let joined = c.call(&hb("m1", 0), 1);
    assert_eq!((joined.error_code, joined.member_epoch), (0, 1));
    let assigned = joined.assignment.unwrap();
    for crash in [false, true] {
        if crash {
            b.kill9();
        } else {
            assert!(b.stop(), "graceful stop failed; log:\n{}", b.log());
        }
        b.spawn();
        let mut c = Client::connect(&b);
        let r = c.call(
            &hb("m1", 1).with_topic_partitions(Some(
                assigned
                    .topic_partitions
                    .iter()
                    .map(|t| {
                        consumer_group_heartbeat_request::TopicPartitions::default()
                            .with_topic_id(t.topic_id)
                            .with_partitions(t.partitions.clone())
                    })
                    .collect(),
            )),
            1,
        );
        assert_eq!(r.error_code, 0, "crash={crash}: {r:?}");
        assert_eq!(r.member_epoch, 1, "crash={crash}");
        let d = c.call(
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("pg"))]),
            0,
        );
        assert_eq!(d.groups[0].group_state.as_str(), "Stable");
        assert_eq!(d.groups[0].members[0].member_id.as_str(), "m1");
    }
}
