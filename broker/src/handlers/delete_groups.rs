//! DeleteGroups: removes groups without members and their committed offsets (tombstones in
//! `__consumer_offsets`, fsynced before answering).

use super::RequestContext;
use crate::group::GroupError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

pub async fn handle(ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.to_string()).collect();
    let results = ctx.groups.delete_groups(&ctx.node, &ids).await;
    let results = req
        .groups_names
        .into_iter()
        .zip(results)
        .map(|(g, r)| {
            DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(r.err().map_or(0, GroupError::code))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
