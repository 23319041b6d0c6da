//! The Kafka APIs this broker implements: one file per API, and one registry (`APIS`) that
//! drives both dispatch and the ApiVersions answer, so advertised and implemented versions can
//! never drift.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod authz;
pub mod config_resource;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod errors;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod legacy;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod unregister_broker;
pub mod update_features;
pub mod write_txn_markers;

/// Largest request frame accepted (Kafka's socket.request.max.bytes); also the bound on a
/// legacy message set's inflated size.
pub const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

use crate::control::MetadataControl;
use crate::group::Coordinator;
pub use crate::log::zero_copy::Piece;
use crate::node::Node;
use crate::replication::Replication;
use crate::security::quota::{QuotaManager, Throttle};
use crate::security::{Principal, SecurityProtocol};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::ApiKey;
use std::net::SocketAddr;
use std::sync::Arc;

/// Everything a handler may use: who sent the request and how, and the broker's services
/// (never the whole broker). Built per request by the connection (server/connection.rs).
#[derive(Clone)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub peer: SocketAddr,
    pub listener: String,
    pub security_protocol: SecurityProtocol,
    /// Who the request runs as: set by the connection's authentication (TLS client
    /// certificate, SASL), `User:ANONYMOUS` otherwise.
    pub principal: Arc<Principal>,
    /// Topics, partitions, settings, config, node id, metrics, the flusher.
    pub node: Arc<Node>,
    /// Metadata changes and lookups, whatever the mode.
    pub metadata: Arc<dyn MetadataControl>,
    pub groups: Arc<Coordinator>,
    pub txns: Arc<crate::txn::TxnCoordinator>,
    pub replication: Arc<Replication>,
    /// Client quotas: handlers record bytes against them (Produce, Fetch).
    pub quotas: Arc<QuotaManager>,
    /// The throttle time this request earned; the connection mutes itself for it.
    pub throttle: Arc<Throttle>,
}

impl RequestContext {
    /// The user name quotas are looked up by (the principal's name).
    pub fn quota_user(&self) -> &str {
        &self.principal.name
    }

    /// The client id quotas are looked up by ("" when the request had none).
    pub fn quota_client_id(&self) -> &str {
        self.client_id.as_deref().unwrap_or("")
    }
}

/// Why a request could not be answered at all; the connection is then closed (a response
/// error code is not possible: the request did not decode, or the response did not encode).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Decode(String),
    #[error("{0}")]
    Encode(String),
    /// A version this broker refuses (e.g. Produce v0-2 without the legacy bridge).
    #[error("{0}")]
    Unsupported(String),
    /// Converting between an old version and the one the handler speaks (`legacy`).
    #[error("{0}")]
    Bridge(String),
}

/// A handler's result: an encoded response body, nothing (acks=0 produce), or a body that is
/// due later (acks=1/all produce waiting for its fsync). For `Later`, the request's effects
/// (its appends) are done when the handler returns, so the connection reads the next request
/// while the future completes; responses still go out in request order.
pub enum Reply {
    Body(BytesMut),
    /// A body in pieces written one after another: large record batches are shared with the
    /// read buffers they were read into rather than copied behind the rest, or sent from their
    /// segment files (Fetch, `log::zero_copy`).
    Chunks(Vec<Piece>),
    None,
    Later(BoxFuture<'static, Result<BytesMut, HandlerError>>),
}

/// Decodes the body, runs the handler, encodes the response. `Err` carries a decode/encode
/// failure reason; the connection is then closed.
pub type HandlerFn = fn(RequestContext, Bytes) -> BoxFuture<'static, Result<Reply, HandlerError>>;

/// Decodes a request body without handling it (the fuzz target and codec tests use it).
pub type DecodeFn = fn(i16, Bytes) -> Result<(), HandlerError>;

/// One registry entry.
pub struct ApiEntry {
    pub key: ApiKey,
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    pub handler: HandlerFn,
    pub decode: DecodeFn,
}

/// Versions a feature level introduces: (API, the highest version below the level, the
/// `eddy.version` level from which the registry's max is advertised and served).
const LEVEL_GATED: &[(ApiKey, i16, i16)] = &[(
    ApiKey::DescribeCluster,
    1,
    crate::features::DESCRIBE_FENCED_BROKERS_LEVEL,
)];

/// The highest version of `entry` advertised and served at `eddy.version` level `level`.
#[must_use]
pub fn max_version(entry: &ApiEntry, level: i16) -> i16 {
    LEVEL_GATED
        .iter()
        .find(|(key, _, _)| *key == entry.key)
        .filter(|(_, _, from)| level < *from)
        .map_or(entry.max, |(_, below, _)| *below)
}

/// Registers a handler module whose `handle(&RequestContext, Req) -> Resp`.
macro_rules! api {
    ($key:ident, $min:expr, $max:expr, $req:ty, $module:ident) => {
        ApiEntry {
            key: ApiKey::$key,
            name: stringify!($key),
            min: $min,
            max: $max,
            handler: |ctx, mut body| {
                Box::pin(async move {
                    use kafka_protocol::protocol::{Decodable, Encodable};
                    let req = <$req>::decode(&mut body, ctx.api_version)
                        .map_err(|e| HandlerError::Decode(e.to_string()))?;
                    let resp = $module::handle(&ctx, req).await;
                    let mut out = BytesMut::new();
                    resp.encode(&mut out, ctx.api_version)
                        .map_err(|e| HandlerError::Encode(e.to_string()))?;
                    Ok(Reply::Body(out))
                })
            },
            decode: |version, mut body| {
                use kafka_protocol::protocol::Decodable;
                <$req>::decode(&mut body, version)
                    .map(|_| ())
                    .map_err(|e| HandlerError::Decode(e.to_string()))
            },
        }
    };
}

use kafka_protocol::messages as m;

/// Every implemented API with the version range it supports: every version Kafka 2.1 accepted
/// (all from 0) up to the newest the codec has. Versions older than the current codec's
/// (KIP-896 dropped them from Kafka 4.0's schemas) are dispatched through `legacy`, which
/// decodes them with the older codec and runs these same handlers.
pub static APIS: &[ApiEntry] = &[
    ApiEntry {
        key: ApiKey::Produce,
        name: "Produce",
        min: 0,
        max: 12,
        handler: produce::dispatch,
        decode: produce::decode_only,
    },
    ApiEntry {
        key: ApiKey::Fetch,
        name: "Fetch",
        min: 0,
        max: 16,
        handler: fetch::dispatch,
        decode: fetch::decode_only,
    },
    api!(ListOffsets, 0, 9, m::ListOffsetsRequest, list_offsets),
    api!(Metadata, 0, 12, m::MetadataRequest, metadata),
    api!(ApiVersions, 0, 4, m::ApiVersionsRequest, api_versions),
    api!(CreateTopics, 0, 7, m::CreateTopicsRequest, create_topics),
    api!(DeleteTopics, 0, 6, m::DeleteTopicsRequest, delete_topics),
    api!(
        CreatePartitions,
        0,
        3,
        m::CreatePartitionsRequest,
        create_partitions
    ),
    api!(
        DescribeConfigs,
        0,
        4,
        m::DescribeConfigsRequest,
        describe_configs
    ),
    api!(AlterConfigs, 0, 2, m::AlterConfigsRequest, alter_configs),
    api!(
        IncrementalAlterConfigs,
        0,
        1,
        m::IncrementalAlterConfigsRequest,
        incremental_alter_configs
    ),
    api!(
        InitProducerId,
        0,
        5,
        m::InitProducerIdRequest,
        init_producer_id
    ),
    // Transactions (KIP-98, txn/), with transaction version 2 (KIP-890 part 2) from EndTxn v5,
    // Produce v12, AddPartitionsToTxn v5 (v4+: the brokers' batch form) and TxnOffsetCommit v5.
    api!(
        AddPartitionsToTxn,
        0,
        5,
        m::AddPartitionsToTxnRequest,
        add_partitions_to_txn
    ),
    api!(
        AddOffsetsToTxn,
        0,
        3,
        m::AddOffsetsToTxnRequest,
        add_offsets_to_txn
    ),
    api!(EndTxn, 0, 5, m::EndTxnRequest, end_txn),
    // Inter-broker: a transaction coordinator's markers (v1 only, as Kafka 4 serves).
    api!(
        WriteTxnMarkers,
        1,
        1,
        m::WriteTxnMarkersRequest,
        write_txn_markers
    ),
    api!(
        TxnOffsetCommit,
        0,
        5,
        m::TxnOffsetCommitRequest,
        txn_offset_commit
    ),
    api!(
        DescribeTransactions,
        0,
        0,
        m::DescribeTransactionsRequest,
        describe_transactions
    ),
    api!(
        ListTransactions,
        0,
        2,
        m::ListTransactionsRequest,
        list_transactions
    ),
    api!(
        DescribeProducers,
        0,
        0,
        m::DescribeProducersRequest,
        describe_producers
    ),
    api!(DeleteRecords, 0, 2, m::DeleteRecordsRequest, delete_records),
    api!(ElectLeaders, 0, 2, m::ElectLeadersRequest, elect_leaders),
    api!(
        AlterPartitionReassignments,
        0,
        1,
        m::AlterPartitionReassignmentsRequest,
        alter_partition_reassignments
    ),
    api!(
        ListPartitionReassignments,
        0,
        0,
        m::ListPartitionReassignmentsRequest,
        list_partition_reassignments
    ),
    api!(
        OffsetForLeaderEpoch,
        0,
        4,
        m::OffsetForLeaderEpochRequest,
        offset_for_leader_epoch
    ),
    // v2 only from eddy.version 2 (`max_version`).
    api!(
        DescribeCluster,
        0,
        2,
        m::DescribeClusterRequest,
        describe_cluster
    ),
    api!(
        DescribeLogDirs,
        0,
        4,
        m::DescribeLogDirsRequest,
        describe_log_dirs
    ),
    // On SASL listeners the connection's SASL gate answers these two (server/sasl_gate.rs);
    // these handlers answer on listeners without SASL.
    api!(SaslHandshake, 0, 1, m::SaslHandshakeRequest, sasl_handshake),
    api!(
        SaslAuthenticate,
        0,
        2,
        m::SaslAuthenticateRequest,
        sasl_authenticate
    ),
    api!(
        AlterUserScramCredentials,
        0,
        0,
        m::AlterUserScramCredentialsRequest,
        alter_user_scram_credentials
    ),
    api!(
        DescribeUserScramCredentials,
        0,
        0,
        m::DescribeUserScramCredentialsRequest,
        describe_user_scram_credentials
    ),
    // Consumer groups (classic protocol).
    api!(
        FindCoordinator,
        0,
        6,
        m::FindCoordinatorRequest,
        find_coordinator
    ),
    api!(JoinGroup, 0, 9, m::JoinGroupRequest, join_group),
    api!(SyncGroup, 0, 5, m::SyncGroupRequest, sync_group),
    api!(Heartbeat, 0, 4, m::HeartbeatRequest, heartbeat),
    api!(LeaveGroup, 0, 5, m::LeaveGroupRequest, leave_group),
    api!(OffsetCommit, 0, 9, m::OffsetCommitRequest, offset_commit),
    api!(OffsetFetch, 0, 9, m::OffsetFetchRequest, offset_fetch),
    api!(ListGroups, 0, 5, m::ListGroupsRequest, list_groups),
    api!(
        DescribeGroups,
        0,
        6,
        m::DescribeGroupsRequest,
        describe_groups
    ),
    api!(DeleteGroups, 0, 2, m::DeleteGroupsRequest, delete_groups),
    // KIP-848 consumer groups (group/consumer/).
    api!(
        ConsumerGroupHeartbeat,
        0,
        1,
        m::ConsumerGroupHeartbeatRequest,
        consumer_group_heartbeat
    ),
    api!(
        ConsumerGroupDescribe,
        0,
        1,
        m::ConsumerGroupDescribeRequest,
        consumer_group_describe
    ),
    api!(OffsetDelete, 0, 0, m::OffsetDeleteRequest, offset_delete),
    // ACLs (v0, without pattern types: LITERAL, through `legacy`).
    api!(CreateAcls, 0, 3, m::CreateAclsRequest, create_acls),
    api!(DescribeAcls, 0, 3, m::DescribeAclsRequest, describe_acls),
    api!(DeleteAcls, 0, 3, m::DeleteAclsRequest, delete_acls),
    // Client quotas (security/quota).
    api!(
        DescribeClientQuotas,
        0,
        1,
        m::DescribeClientQuotasRequest,
        describe_client_quotas
    ),
    api!(
        AlterClientQuotas,
        0,
        1,
        m::AlterClientQuotasRequest,
        alter_client_quotas
    ),
    // Scale-down: forget a drained broker.
    api!(
        UnregisterBroker,
        0,
        0,
        m::UnregisterBrokerRequest,
        unregister_broker
    ),
    // Feature levels (KIP-584, crate::features).
    api!(
        UpdateFeatures,
        0,
        2,
        m::UpdateFeaturesRequest,
        update_features
    ),
];

pub fn lookup(key: ApiKey) -> Option<&'static ApiEntry> {
    APIS.iter().find(|e| e.key == key)
}

/// The error code of a `ResponseError` (helper to keep handlers short).
pub fn code(e: kafka_protocol::error::ResponseError) -> i16 {
    e.code()
}

/// A `StrBytes` from a `&str`.
pub fn sb(s: &str) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.to_string())
}
