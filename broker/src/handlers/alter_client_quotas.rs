//! AlterClientQuotas (v0-v1): sets and removes quota values per entity (user, client-id, both,
//! or ip; named or default). Bad entities, unknown keys and negative values answer
//! INVALID_REQUEST for that entry; the valid entries are stored together (the metadata log in
//! cluster mode) unless validate_only.

use super::errors::TopicError;
use super::{RequestContext, code, sb};
use crate::security::acl::Operation;
use crate::security::quota::{QuotaAlteration, QuotaEntity, QuotaError, QuotaValue};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::EntryData as RequestEntry;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use std::collections::BTreeMap;

/// An entry's alteration, checked.
fn alteration(entry: &RequestEntry) -> Result<QuotaAlteration, QuotaError> {
    let entity = QuotaEntity::from_parts(entry.entity.iter().map(|e| {
        (
            e.entity_type.as_str(),
            e.entity_name
                .as_ref()
                .map(kafka_protocol::protocol::StrBytes::as_str),
        )
    }))?;
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for op in &entry.ops {
        let key = op.key.to_string();
        if set.contains_key(&key) || remove.contains(&key) {
            return Err(QuotaError::InvalidKey(format!(
                "quota key {key:?} appears twice for entity {entity}"
            )));
        }
        if op.remove {
            remove.push(key);
        } else {
            set.insert(key, QuotaValue(op.value));
        }
    }
    let a = QuotaAlteration {
        entity,
        set,
        remove,
    };
    a.validate()?;
    Ok(a)
}

#[tracing::instrument(skip_all, fields(entries = req.entries.len(), validate_only = req.validate_only))]
pub async fn handle(
    ctx: &RequestContext,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    // Kafka: ALTER_CONFIGS on the cluster, or every entry fails.
    let allowed = ctx.authorize_cluster(Operation::AlterConfigs);
    let checked: Vec<Result<QuotaAlteration, TopicError>> = req
        .entries
        .iter()
        .map(|e| match allowed {
            true => alteration(e).map_err(TopicError::from),
            false => Err(TopicError::new(
                ResponseError::ClusterAuthorizationFailed,
                "AlterClientQuotas needs ALTER_CONFIGS on the cluster".to_string(),
            )),
        })
        .collect();
    let valid: Vec<QuotaAlteration> = checked
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let stored: Result<(), TopicError> = if req.validate_only || valid.is_empty() {
        Ok(())
    } else {
        let r = ctx
            .metadata
            .alter_client_quotas(valid)
            .map_err(TopicError::from);
        // This broker enforces the change at once (in cluster mode every broker also picks it
        // up from the metadata log).
        ctx.quotas.update(&ctx.metadata.client_quotas());
        r
    };
    if let Err(e) = &stored {
        tracing::warn!(error = %e, "storing client quotas failed");
    }
    let entries = req
        .entries
        .iter()
        .zip(checked)
        .map(|(entry, result)| {
            let r = EntryData::default().with_entity(
                entry
                    .entity
                    .iter()
                    .map(|e| {
                        EntityData::default()
                            .with_entity_type(e.entity_type.clone())
                            .with_entity_name(e.entity_name.clone())
                    })
                    .collect(),
            );
            match result.and(stored.clone()) {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(code(e.code))
                    .with_error_message(Some(sb(&e.message))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
