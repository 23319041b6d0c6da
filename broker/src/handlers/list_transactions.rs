//! ListTransactions (v0-v2): the transactional ids this coordinator holds, filtered by state
//! (unknown state names are echoed back, as Kafka does), producer id, duration of the ongoing
//! transaction (v1) and a regular expression on the id (v2); only ids the principal may
//! DESCRIBE are listed.

use super::{RequestContext, code, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

const STATES: &[&str] = &[
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

pub async fn handle(
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let resp = ListTransactionsResponse::default();
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(_) => return resp.with_error_code(code(ResponseError::InvalidRegularExpression)),
        },
    };
    let unknown: Vec<_> = req
        .state_filters
        .iter()
        .filter(|s| !STATES.contains(&s.as_str()))
        .cloned()
        .collect();
    let now = crate::now_ms();
    let states = ctx
        .txns
        .list()
        .into_iter()
        .filter(|m| {
            (req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|s| s.as_str() == m.state.name()))
                && (req.producer_id_filters.is_empty()
                    || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id))
                && (req.duration_filter < 0
                    || (m.state == crate::txn::state::TxnState::Ongoing
                        && now - m.start_ms >= req.duration_filter))
                && pattern
                    .as_ref()
                    .is_none_or(|r| r.is_match(&m.transactional_id))
                && ctx.is_authorized_quietly(
                    Operation::Describe,
                    ResourceType::TransactionalId,
                    &m.transactional_id,
                )
        })
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(sb(&m.transactional_id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(sb(m.state.name()))
        })
        .collect();
    resp.with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
