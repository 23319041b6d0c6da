//! AlterConfigs (v0-v2): replaces the whole override set of a topic or of the broker's dynamic
//! configs; validate_only checks without applying. Changes apply live and are persisted.

use super::config_resource::{authorize, commit, target};
use super::errors::TopicError;
use super::{RequestContext, code, sb};
use crate::config::view;
use crate::security::acl::Operation;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

#[tracing::instrument(skip_all, fields(validate_only = req.validate_only))]
pub async fn handle(ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let name = res.resource_name.as_str();
            let outcome = authorize(ctx, Operation::AlterConfigs, res.resource_type, name)
                .and_then(|()| target(ctx, res.resource_type, name))
                .and_then(|t| {
                    let pairs: Vec<(String, Option<String>)> = res
                        .configs
                        .iter()
                        .map(|c| {
                            (
                                c.name.to_string(),
                                c.value.as_ref().map(ToString::to_string),
                            )
                        })
                        .collect();
                    let configs = view::replace_all(t, &pairs)?;
                    if req.validate_only {
                        return Ok(());
                    }
                    commit(ctx, t, name, configs)
                });
            let r = AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            match outcome {
                Ok(()) => r,
                Err(TopicError {
                    code: e,
                    message: msg,
                }) => r
                    .with_error_code(code(e))
                    .with_error_message(Some(sb(&msg))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
