//! DescribeConfigs (v1-v4) for TOPIC and BROKER resources: every key of the defs table with its
//! value, source, read-only and sensitive flags, synonyms when asked, and type + documentation
//! on v3+. A broker resource must name this node (or be "" for the cluster default).

use super::config_resource::{authorize, entries};
use super::errors::TopicError;
use super::{RequestContext, code, sb};
use crate::config::view::ConfigEntry;
use crate::security::acl::Operation;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

#[tracing::instrument(skip_all, fields(resources = req.resources.len()))]
pub async fn handle(ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let v = ctx.api_version;
    let results = req
        .resources
        .iter()
        .map(|res| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let name = res.resource_name.as_str();
            let found = authorize(ctx, Operation::DescribeConfigs, res.resource_type, name)
                .and_then(|()| entries(ctx, res.resource_type, name));
            match found {
                Err(TopicError {
                    code: e,
                    message: msg,
                }) => result
                    .with_error_code(code(e))
                    .with_error_message(Some(sb(&msg))),
                Ok(all) => {
                    let configs = all
                        .into_iter()
                        .filter(|e| {
                            res.configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                        })
                        .map(|e| {
                            encode_entry(&e, req.include_synonyms, req.include_documentation, v)
                        })
                        .collect();
                    result.with_configs(configs)
                }
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn encode_entry(
    e: &ConfigEntry,
    synonyms: bool,
    documentation: bool,
    version: i16,
) -> DescribeConfigsResourceResult {
    let value = (!e.sensitive).then(|| sb(&e.value));
    let mut r = DescribeConfigsResourceResult::default()
        .with_name(sb(e.name))
        .with_value(value)
        .with_read_only(e.read_only)
        .with_config_source(e.source.code())
        .with_is_sensitive(e.sensitive);
    if synonyms {
        r = r.with_synonyms(
            e.synonyms
                .iter()
                .map(|s| {
                    DescribeConfigsSynonym::default()
                        .with_name(sb(s.name))
                        .with_value((!e.sensitive).then(|| sb(&s.value)))
                        .with_source(s.source.code())
                })
                .collect(),
        );
    }
    if version >= 3 {
        r = r
            .with_config_type(e.ty.code())
            .with_documentation(documentation.then(|| sb(e.doc)));
    }
    r
}
