//! CreateAcls (v0-v3; v0 through `legacy`): adds ACL bindings. SECURITY_DISABLED without an
//! authorizer, CLUSTER_AUTHORIZATION_FAILED without ALTER on the cluster, INVALID_REQUEST for a
//! binding that cannot be stored; the valid ones are stored in one metadata change.

use super::{RequestContext, code, errors, sb};
use crate::security::acl::{AclBinding, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

fn failed(e: ResponseError, message: &str) -> AclCreationResult {
    AclCreationResult::default()
        .with_error_code(code(e))
        .with_error_message(Some(sb(message)))
}

#[tracing::instrument(skip_all, fields(creations = req.creations.len()))]
pub async fn handle(ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let resp = CreateAclsResponse::default();
    if !ctx.node.authorizer.is_enabled() {
        let r = failed(
            ResponseError::SecurityDisabled,
            "no authorizer is configured on the broker",
        );
        return resp.with_results(vec![r; req.creations.len()]);
    }
    if !ctx.authorize_cluster(Operation::Alter) {
        let e = errors::denied(ResourceType::Cluster);
        let r = failed(e, "CreateAcls needs ALTER on the cluster");
        return resp.with_results(vec![r; req.creations.len()]);
    }
    let parsed: Vec<Result<AclBinding, _>> = req
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_wire(
                c.resource_type,
                c.resource_name.as_str(),
                c.resource_pattern_type,
                c.principal.as_str(),
                c.host.as_str(),
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclBinding> = parsed.iter().filter_map(|r| r.clone().ok()).collect();
    let stored = if valid.is_empty() {
        Ok(())
    } else {
        ctx.metadata.create_acls(valid.clone())
    };
    if stored.is_ok() {
        for b in &valid {
            tracing::info!(principal = %ctx.principal, acl = %b, "created an ACL");
        }
    }
    let results = parsed
        .into_iter()
        .map(|r| match (r, &stored) {
            (Err(e), _) => failed(errors::acl(&e), &e.to_string()),
            (Ok(_), Ok(())) => AclCreationResult::default(),
            (Ok(_), Err(e)) => failed(errors::control(e), &e.to_string()),
        })
        .collect();
    resp.with_results(results)
}
