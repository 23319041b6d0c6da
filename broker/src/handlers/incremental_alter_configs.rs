//! IncrementalAlterConfigs (v0-v1): SET, DELETE, APPEND and SUBTRACT (list configs) on a topic's
//! overrides or the broker's dynamic configs; validate_only checks without applying.

use super::config_resource::{authorize, resource, stored, target};
use super::errors::TopicError;
use super::{RequestContext, code, sb};
use crate::config::view::{self, AlterOp, Target};
use crate::security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

#[tracing::instrument(skip_all, fields(validate_only = req.validate_only))]
pub async fn handle(
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let name = res.resource_name.as_str();
            let outcome = authorize(ctx, Operation::AlterConfigs, res.resource_type, name)
                .and_then(|()| target(ctx, res.resource_type, name))
                .and_then(|t| {
                    let ops = res
                        .configs
                        .iter()
                        .map(|c| {
                            AlterOp::from_wire(c.config_operation, c.value.as_deref())
                                .map(|op| (c.name.to_string(), op))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    // Cluster mode: a compare-and-set on the overrides the change was computed
                    // from, recomputed when another change got there first (bounded).
                    for _ in 0..30 {
                        let current = stored(ctx, t, name);
                        let configs = match t {
                            Target::Topic => {
                                let eff = |k: &str| ctx.node.topic_setting(&current, k);
                                view::apply_incremental(t, &current, &ops, &eff)?
                            }
                            Target::Broker => {
                                let eff = |k: &str| ctx.node.broker_setting(k);
                                view::apply_incremental(t, &current, &ops, &eff)?
                            }
                        };
                        if req.validate_only || current == configs {
                            return Ok(());
                        }
                        if ctx
                            .metadata
                            .set_configs(resource(t), name, configs, Some(current))?
                        {
                            tracing::info!(resource = name, ?t, "configs altered");
                            return Ok(());
                        }
                    }
                    Err(TopicError::new(
                        ResponseError::RequestTimedOut,
                        format!("the configs of {name} kept changing concurrently; try again"),
                    ))
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
