//! DescribeCluster (v0-v1): the cluster id, the controller (this node) and this broker with the
//! host/port of the advertised listener the request arrived on, and its rack.

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
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(sb(&control.cluster_id()))
        .with_controller_id(BrokerId(control.controller_id()));
    if ctx.api_version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_error_code(code(ResponseError::UnsupportedEndpointType))
            .with_error_message(Some(sb("only the brokers endpoint type (1) is supported")));
    }
    let brokers = control
        .live_brokers(&ctx.listener)
        .into_iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(sb(&b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.as_deref().map(sb))
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
