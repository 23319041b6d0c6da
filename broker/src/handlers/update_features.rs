//! UpdateFeatures (v0-v2, KIP-584): changes the cluster's finalized feature levels
//! (`crate::features`), all or nothing, once every registered broker supports them. Needs ALTER
//! on the cluster. v0's `allow_downgrade` is a safe downgrade; v1+ carry Kafka's upgrade types.
//! v0-v1 answer per feature; v2 only at the top level, as Kafka does.

use super::errors::TopicError;
use super::{RequestContext, sb};
use crate::control::FeatureUpdateFailure;
use crate::features::{FeatureUpdate, UpgradeType};
use crate::security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};

/// Every feature of the request answered with one error (v0-v1), or the top level (v2).
fn fail_all(
    ctx: &RequestContext,
    req: &UpdateFeaturesRequest,
    code: i16,
    message: &str,
) -> UpdateFeaturesResponse {
    let resp = UpdateFeaturesResponse::default();
    if ctx.api_version >= 2 {
        return resp
            .with_error_code(code)
            .with_error_message(Some(sb(message)));
    }
    resp.with_results(
        req.feature_updates
            .iter()
            .map(|u| {
                UpdatableFeatureResult::default()
                    .with_feature(u.feature.clone())
                    .with_error_code(code)
                    .with_error_message(Some(sb(message)))
            })
            .collect(),
    )
}

#[tracing::instrument(skip_all, fields(updates = req.feature_updates.len(), validate_only = req.validate_only))]
pub async fn handle(ctx: &RequestContext, req: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    if !ctx.authorize_cluster(Operation::Alter) {
        return fail_all(
            ctx,
            &req,
            ResponseError::ClusterAuthorizationFailed.code(),
            "UpdateFeatures needs ALTER on the cluster",
        );
    }
    let mut updates = Vec::with_capacity(req.feature_updates.len());
    for u in &req.feature_updates {
        let upgrade_type = if ctx.api_version == 0 {
            Some(if u.allow_downgrade {
                UpgradeType::SafeDowngrade
            } else {
                UpgradeType::Upgrade
            })
        } else {
            UpgradeType::from_wire(u.upgrade_type)
        };
        let Some(upgrade_type) = upgrade_type else {
            return fail_all(
                ctx,
                &req,
                ResponseError::InvalidRequest.code(),
                &format!(
                    "unknown upgrade type {} for {} (1 upgrade, 2 safe downgrade, 3 unsafe downgrade)",
                    u.upgrade_type, u.feature
                ),
            );
        };
        updates.push(FeatureUpdate {
            feature: u.feature.to_string(),
            level: u.max_version_level,
            upgrade_type,
        });
    }
    match ctx.metadata.update_features(&updates, req.validate_only) {
        Ok(()) => {
            tracing::info!(
                ?updates,
                validate_only = req.validate_only,
                "feature levels updated"
            );
            if ctx.api_version >= 2 {
                return UpdateFeaturesResponse::default();
            }
            UpdateFeaturesResponse::default().with_results(
                req.feature_updates
                    .iter()
                    .map(|u| UpdatableFeatureResult::default().with_feature(u.feature.clone()))
                    .collect(),
            )
        }
        Err(FeatureUpdateFailure::Control(e)) => {
            let e = TopicError::from(e);
            fail_all(ctx, &req, e.code.code(), &e.message)
        }
        Err(FeatureUpdateFailure::Refused(errors)) => {
            tracing::info!(?errors, "feature update refused");
            let first = &errors[0];
            if ctx.api_version >= 2 {
                return UpdateFeaturesResponse::default()
                    .with_error_code(first.code)
                    .with_error_message(Some(sb(&format!(
                        "{}: {}",
                        first.feature, first.message
                    ))));
            }
            UpdateFeaturesResponse::default().with_results(
                req.feature_updates
                    .iter()
                    .map(|u| {
                        let r = UpdatableFeatureResult::default().with_feature(u.feature.clone());
                        match errors.iter().find(|e| e.feature == u.feature.as_str()) {
                            Some(e) => r
                                .with_error_code(e.code)
                                .with_error_message(Some(sb(&e.message))),
                            None => r
                                .with_error_code(crate::features::INVALID_UPDATE_VERSION)
                                .with_error_message(Some(sb(
                                    "not applied: another update of the request was refused",
                                ))),
                        }
                    })
                    .collect(),
            )
        }
    }
}
