//! DescribeCluster (v0-v2): the cluster id, the controller (this node) and this broker with the
//! host/port of the advertised listener the request arrived on, and its rack. v2 (KIP-1073)
//! lists fenced brokers too (`is_fenced`) when the request asks: it exists only once the
//! cluster finalized `eddy.version` 2 (release 0.2.0); before, v2 is neither advertised nor
//! served.

use super::{RequestContext, code, errors, sb};
use crate::security::acl::{CLUSTER_NAME, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

/// Endpoint type 1: brokers (2 would be controllers, which this node does not expose apart).
const ENDPOINT_BROKERS: i8 = 1;

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        return DescribeClusterResponse::default()
            .with_error_code(code(errors::denied(ResourceType::Cluster)))
            .with_error_message(Some(sb("DESCRIBE on the cluster is not authorized")))
            .with_cluster_authorized_operations(i32::MIN);
    }
    let control = &ctx.metadata;
    let level = crate::features::effective_level(&control.finalized_features());
    if ctx.api_version >= 2 && level < crate::features::DESCRIBE_FENCED_BROKERS_LEVEL {
        return DescribeClusterResponse::default()
            .with_error_code(code(ResponseError::UnsupportedVersion))
            .with_error_message(Some(sb(&format!(
                "DescribeCluster v2 needs eddy.version {}; the cluster runs level {level}",
                crate::features::DESCRIBE_FENCED_BROKERS_LEVEL
            ))))
            .with_cluster_authorized_operations(i32::MIN);
    }
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(sb(&control.cluster_id()))
        .with_controller_id(BrokerId(control.controller_id()));
    if ctx.api_version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_error_code(code(ResponseError::UnsupportedEndpointType))
            .with_error_message(Some(sb("only the brokers endpoint type (1) is supported")));
    }
    let listed = if ctx.api_version >= 2 && req.include_fenced_brokers {
        control.registered_brokers(&ctx.listener)
    } else {
        control
            .live_brokers(&ctx.listener)
            .into_iter()
            .map(|b| (b, false))
            .collect()
    };
    let brokers = listed
        .into_iter()
        .map(|(b, fenced)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(sb(&b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.as_deref().map(sb))
                .with_is_fenced(fenced)
        })
        .collect();
    let ops = if req.include_cluster_authorized_operations {
        ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        i32::MIN
    };
    resp.with_brokers(brokers)
        .with_cluster_authorized_operations(ops)
}
