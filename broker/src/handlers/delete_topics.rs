//! DeleteTopics (v1-v6): by name, or by topic id on v6; internal topics are refused, and every
//! topic when `delete.topic.enable=false`.

use super::errors::TopicError;
use super::{RequestContext, code, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let v = ctx.api_version;
    // (name as given, id as given)
    let targets: Vec<(Option<String>, uuid::Uuid)> = if v >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    // `delete.topic.enable=false`: every topic is refused, as Kafka does (before v3, whose
    // responses have no such code, with INVALID_REQUEST).
    let deletion_enabled = ctx.node.broker_setting("delete.topic.enable") != "false";
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let resolved = match (&name, id.is_nil()) {
                (Some(n), _) => Some(n.clone()),
                (None, false) => ctx.node.topic_by_id(id).map(|t| t.name.clone()),
                (None, true) => None,
            };
            let outcome = match &resolved {
                _ if !deletion_enabled => Err(TopicError::new(
                    if v >= 3 {
                        ResponseError::TopicDeletionDisabled
                    } else {
                        ResponseError::InvalidRequest
                    },
                    "Topic deletion is disabled.".to_string(),
                )),
                Some(n) if !ctx.authorize(Operation::Delete, ResourceType::Topic, n) => {
                    Err(TopicError::new(
                        errors::denied(ResourceType::Topic),
                        format!("DELETE on topic {n} is not authorized"),
                    ))
                }
                Some(n) => ctx.metadata.delete_topic(n).map_err(TopicError::from),
                None if id.is_nil() => Err(TopicError::new(
                    ResponseError::InvalidRequest,
                    "neither a topic name nor a topic id was given".to_string(),
                )),
                None => Err(TopicError::new(
                    ResponseError::UnknownTopicId,
                    format!("no topic has id {id}"),
                )),
            };
            let shown_name = resolved.or(name);
            let mut r = DeletableTopicResult::default();
            if v >= 6 {
                r = r.with_name(shown_name.map(|n| TopicName(sb(&n))));
            } else {
                r = r.with_name(Some(TopicName(sb(&shown_name.unwrap_or_default()))));
            }
            match outcome {
                Ok(deleted_id) => {
                    if v >= 6 {
                        r = r.with_topic_id(deleted_id);
                    }
                    r
                }
                Err(TopicError {
                    code: e,
                    message: msg,
                }) => {
                    if v >= 6 && !id.is_nil() {
                        r = r.with_topic_id(id);
                    }
                    let r = r.with_error_code(code(e));
                    if v >= 5 {
                        r.with_error_message(Some(sb(&msg)))
                    } else {
                        r
                    }
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
