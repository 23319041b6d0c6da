//! UnregisterBroker (v0): forgets a drained broker — its registration, its controller address
//! and its place among the metadata quorum's learners — so that a scale-down leaves nothing
//! behind. Needs ALTER on the cluster. Refused (INVALID_REQUEST, naming what is left) while any
//! partition or reassignment still names the broker, or while it is a controller voter;
//! `BROKER_ID_NOT_REGISTERED` for an unknown id.

use super::errors::TopicError;
use super::{RequestContext, sb};
use crate::cluster::image::Refusal;
use crate::node::ControlError;
use crate::security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};

#[tracing::instrument(skip_all, fields(broker = req.broker_id.0))]
pub async fn handle(
    ctx: &RequestContext,
    req: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let fail = |e: ResponseError, m: &str| {
        UnregisterBrokerResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(sb(m)))
    };
    if !ctx.authorize_cluster(Operation::Alter) {
        return fail(
            ResponseError::ClusterAuthorizationFailed,
            "UnregisterBroker needs ALTER on the cluster",
        );
    }
    match ctx.metadata.unregister_broker(req.broker_id.0).await {
        Ok(()) => {
            tracing::info!(broker = req.broker_id.0, "broker unregistered");
            UnregisterBrokerResponse::default()
        }
        Err(ControlError::Refused(Refusal::UnknownBroker, m)) => {
            fail(ResponseError::BrokerIdNotRegistered, &m)
        }
        Err(e) => {
            let e = TopicError::from(e);
            fail(e.code, &e.message)
        }
    }
}
