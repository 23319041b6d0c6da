//! DescribeClientQuotas (v0-v1): the stored client quotas whose entity matches the filter
//! (exact name, default, or any name of a type; strict = no other entity types).

use super::{RequestContext, code, sb};
use crate::security::acl::Operation;
use crate::security::quota::{CLIENT_ID, EntityName, IP, QuotaEntity, USER};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

/// Kafka's match types.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

/// One filter component: an entity type and what its name must be (None = any name).
struct Component {
    entity_type: String,
    name: Option<EntityName>,
}

fn parse_filter(req: &DescribeClientQuotasRequest) -> Result<Vec<Component>, String> {
    let mut out: Vec<Component> = Vec::new();
    for c in &req.components {
        let ty = c.entity_type.as_str();
        if ![USER, CLIENT_ID, IP].contains(&ty) {
            return Err(format!("unknown quota entity type {ty:?} in the filter"));
        }
        if out.iter().any(|o| o.entity_type == ty) {
            return Err(format!("entity type {ty:?} appears twice in the filter"));
        }
        let m = c._match.as_ref().map(|s| s.as_str().to_string());
        let name = match (c.match_type, m) {
            (MATCH_EXACT, Some(n)) => Some(EntityName::Name(n)),
            (MATCH_EXACT, None) => {
                return Err(format!("an exact match on {ty:?} needs a name"));
            }
            (MATCH_DEFAULT, None) => Some(EntityName::Default),
            (MATCH_SPECIFIED, None) => None,
            (MATCH_DEFAULT | MATCH_SPECIFIED, Some(_)) => {
                return Err(format!(
                    "a default or specified match on {ty:?} takes no name"
                ));
            }
            (other, _) => return Err(format!("unknown match type {other}")),
        };
        out.push(Component {
            entity_type: ty.to_string(),
            name,
        });
    }
    let has = |t: &str| out.iter().any(|c| c.entity_type == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err("an ip filter cannot be combined with user or client-id".into());
    }
    Ok(out)
}

fn matches(entity: &QuotaEntity, filter: &[Component], strict: bool) -> bool {
    let part = |ty: &str| match ty {
        USER => entity.user.as_ref(),
        CLIENT_ID => entity.client_id.as_ref(),
        _ => entity.ip.as_ref(),
    };
    let each = filter
        .iter()
        .all(|c| match (part(&c.entity_type), &c.name) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(p), Some(want)) => p == want,
        });
    each && (!strict || entity.parts().len() == filter.len())
}

#[tracing::instrument(skip_all, fields(strict = req.strict))]
pub async fn handle(
    ctx: &RequestContext,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    // Kafka: DESCRIBE_CONFIGS on the cluster.
    if !ctx.authorize_cluster(Operation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(code(ResponseError::ClusterAuthorizationFailed))
            .with_error_message(Some(sb(
                "DescribeClientQuotas needs DESCRIBE_CONFIGS on the cluster",
            )))
            .with_entries(None);
    }
    let filter = match parse_filter(&req) {
        Ok(f) => f,
        Err(message) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(code(ResponseError::InvalidRequest))
                .with_error_message(Some(sb(&message)))
                .with_entries(None);
        }
    };
    let quotas = ctx.metadata.client_quotas();
    let entries = quotas
        .0
        .iter()
        .filter(|(e, _)| matches(e, &filter, req.strict))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .parts()
                        .into_iter()
                        .map(|(ty, name)| {
                            EntityData::default()
                                .with_entity_type(sb(ty))
                                .with_entity_name(name.map(sb))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(k, v)| ValueData::default().with_key(sb(k)).with_value(v.0))
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> EntityName {
        EntityName::Name(s.into())
    }

    fn c(ty: &str, name: Option<EntityName>) -> Component {
        Component {
            entity_type: ty.into(),
            name,
        }
    }

    #[test]
    fn filters_match_exact_default_and_specified_names() {
        let alice_app = QuotaEntity::user_client(n("alice"), n("app"));
        let user_default = QuotaEntity::user(EntityName::Default);
        let client = QuotaEntity::client(n("app"));
        let f = [c(USER, Some(n("alice")))];
        assert!(matches(&alice_app, &f, false));
        assert!(!matches(&alice_app, &f, true), "strict: no other types");
        assert!(!matches(&user_default, &f, false));
        let f = [c(USER, Some(EntityName::Default))];
        assert!(matches(&user_default, &f, true));
        let f = [c(CLIENT_ID, None)];
        assert!(matches(&client, &f, true));
        assert!(matches(&alice_app, &f, false));
        assert!(!matches(&user_default, &f, false));
        assert!(
            matches(&user_default, &[], false),
            "no components: everything"
        );
    }
}
