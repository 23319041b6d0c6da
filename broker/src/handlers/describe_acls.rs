//! DescribeAcls (v0-v3; v0 through `legacy`): the bindings one filter matches, grouped by resource
//! pattern. SECURITY_DISABLED without an authorizer, CLUSTER_AUTHORIZATION_FAILED without DESCRIBE
//! on the cluster, INVALID_REQUEST for a filter that cannot match.

use super::{RequestContext, code, errors, sb};
use crate::security::acl::{AclBinding, AclFilter, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use std::collections::BTreeMap;

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let resp = DescribeAclsResponse::default();
    let fail = |e: ResponseError, m: &str| {
        DescribeAclsResponse::default()
            .with_error_code(code(e))
            .with_error_message(Some(sb(m)))
    };
    if !ctx.node.authorizer.is_enabled() {
        return fail(
            ResponseError::SecurityDisabled,
            "no authorizer is configured on the broker",
        );
    }
    if !ctx.authorize_cluster(Operation::Describe) {
        return fail(
            errors::denied(ResourceType::Cluster),
            "DescribeAcls needs DESCRIBE on the cluster",
        );
    }
    let filter = match AclFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(e) => return fail(errors::acl(&e), &e.to_string()),
    };
    resp.with_resources(resources(ctx.node.authorizer.index().matching(&filter)))
}

/// Bindings grouped by resource pattern, as DescribeAcls answers them.
fn resources(bindings: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut by_pattern: BTreeMap<_, Vec<AclDescription>> = BTreeMap::new();
    for b in bindings {
        by_pattern
            .entry((b.resource_type, b.resource_name.clone(), b.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(sb(&b.principal))
                    .with_host(sb(&b.host))
                    .with_operation(b.operation.code())
                    .with_permission_type(b.permission.code()),
            );
    }
    by_pattern
        .into_iter()
        .map(|((rt, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(rt.code())
                .with_resource_name(sb(&name))
                .with_pattern_type(pattern.code())
                .with_acls(acls)
        })
        .collect()
}
