//! DeleteAcls (v0-v3; v0 through `legacy`): removes the bindings each filter matches and answers,
//! per filter, the bindings it deleted. SECURITY_DISABLED without an authorizer,
//! CLUSTER_AUTHORIZATION_FAILED without ALTER on the cluster, INVALID_REQUEST for a filter that
//! cannot match.

use super::{RequestContext, code, errors, sb};
use crate::security::acl::{AclBinding, AclFilter, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use std::collections::BTreeSet;

fn failed(e: ResponseError, message: &str) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(code(e))
        .with_error_message(Some(sb(message)))
}

fn matching_acl(b: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(b.resource_type.code())
        .with_resource_name(sb(&b.resource_name))
        .with_pattern_type(b.pattern_type.code())
        .with_principal(sb(&b.principal))
        .with_host(sb(&b.host))
        .with_operation(b.operation.code())
        .with_permission_type(b.permission.code())
}

#[tracing::instrument(skip_all, fields(filters = req.filters.len()))]
pub async fn handle(ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let resp = DeleteAclsResponse::default();
    if !ctx.node.authorizer.is_enabled() {
        let r = failed(
            ResponseError::SecurityDisabled,
            "no authorizer is configured on the broker",
        );
        return resp.with_filter_results(vec![r; req.filters.len()]);
    }
    if !ctx.authorize_cluster(Operation::Alter) {
        let r = failed(
            errors::denied(ResourceType::Cluster),
            "DeleteAcls needs ALTER on the cluster",
        );
        return resp.with_filter_results(vec![r; req.filters.len()]);
    }
    let index = ctx.node.authorizer.index();
    let matched: Vec<Result<Vec<AclBinding>, _>> = req
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
            .map(|filter| index.matching(&filter))
        })
        .collect();
    let doomed: BTreeSet<AclBinding> = matched
        .iter()
        .filter_map(|m| m.as_ref().ok())
        .flatten()
        .cloned()
        .collect();
    let removed = if doomed.is_empty() {
        Ok(())
    } else {
        ctx.metadata.delete_acls(doomed.iter().cloned().collect())
    };
    if removed.is_ok() {
        for b in &doomed {
            tracing::info!(principal = %ctx.principal, acl = %b, "deleted an ACL");
        }
    }
    let results = matched
        .into_iter()
        .map(|m| match (m, &removed) {
            (Err(e), _) => failed(errors::acl(&e), &e.to_string()),
            (Ok(bindings), Ok(())) => DeleteAclsFilterResult::default()
                .with_matching_acls(bindings.iter().map(matching_acl).collect()),
            (Ok(_), Err(e)) => failed(errors::control(e), &e.to_string()),
        })
        .collect();
    resp.with_filter_results(results)
}
