//! DeleteGroups: removes groups without members and their committed offsets (tombstones in
//! `__consumer_offsets`, fsynced before answering).

use super::{RequestContext, errors};
use crate::group::GroupError;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

pub async fn handle(ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    // DELETE on each group; only the authorized ones are deleted.
    let allowed: Vec<bool> = req
        .groups_names
        .iter()
        .map(|g| ctx.authorize(Operation::Delete, ResourceType::Group, g))
        .collect();
    let ids: Vec<String> = req
        .groups_names
        .iter()
        .zip(&allowed)
        .filter(|(_, a)| **a)
        .map(|(g, _)| g.to_string())
        .collect();
    let mut deleted = ctx.groups.delete_groups(&ctx.node, &ids).await.into_iter();
    let denied = errors::denied(ResourceType::Group).code();
    let results = req
        .groups_names
        .into_iter()
        .zip(allowed)
        .map(|(g, allowed)| {
            let code = if allowed {
                deleted
                    .next()
                    .map_or(denied, |r| r.err().map_or(0, GroupError::code))
            } else {
                denied
            };
            DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
