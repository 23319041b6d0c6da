//! ListGroups: every group this coordinator knows, filtered by state (v4+) and type (v5+:
//! "classic" groups and KIP-848 "consumer" groups).

use super::{RequestContext, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

pub async fn handle(ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let v = ctx.api_version;
    let wants = |ty: &str| {
        req.types_filter.is_empty() || req.types_filter.iter().any(|t| t.eq_ignore_ascii_case(ty))
    };
    let states: Vec<String> = req.states_filter.iter().map(ToString::to_string).collect();
    // DESCRIBE on the cluster lists every group; else only those the principal may describe.
    let all = ctx.is_authorized_quietly(
        Operation::Describe,
        ResourceType::Cluster,
        crate::security::acl::CLUSTER_NAME,
    );
    let consumer = ctx.groups.consumer_list();
    let is_consumer = |id: &str| consumer.iter().any(|(c, _)| c == id);
    let consumer_groups: Vec<ListedGroup> = consumer
        .iter()
        .filter(|_| wants("consumer"))
        .filter(|(_, state)| {
            states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state))
        })
        .filter(|(id, _)| {
            all || ctx.is_authorized_quietly(Operation::Describe, ResourceType::Group, id)
        })
        .map(|(id, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(sb(id)))
                .with_protocol_type(sb("consumer"))
                .with_group_state(if v >= 4 { sb(state) } else { sb("") })
                .with_group_type(if v >= 5 { sb("consumer") } else { sb("") })
        })
        .collect();
    let groups = ctx
        .groups
        .list(&states)
        .into_iter()
        .filter(|g| wants("classic") && !is_consumer(&g.group_id))
        .filter(|g| {
            all || ctx.is_authorized_quietly(Operation::Describe, ResourceType::Group, &g.group_id)
        })
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(sb(&g.group_id)))
                .with_protocol_type(sb(&g.protocol_type))
                .with_group_state(if v >= 4 { sb(g.state.name()) } else { sb("") })
                .with_group_type(if v >= 5 { sb("classic") } else { sb("") })
        })
        .chain(consumer_groups)
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
