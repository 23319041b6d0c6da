//! DescribeUserScramCredentials (v0): each user's SCRAM mechanisms and iteration counts (never
//! salts or keys); all users when the request names none.

use super::{RequestContext, code, sb};
use crate::security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use std::collections::BTreeMap;

#[tracing::instrument(skip_all)]
pub async fn handle(
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        // Kafka answers the bare code: librdkafka 2.6 crashes on an error message here.
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(code(ResponseError::ClusterAuthorizationFailed));
    }
    let users = ctx.metadata.scram_users();
    let wanted: Vec<String> = match &req.users {
        Some(list) if !list.is_empty() => {
            list.iter().map(|u| u.name.as_str().to_string()).collect()
        }
        _ => users.keys().cloned().collect(),
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &wanted {
        *counts.entry(w.as_str()).or_default() += 1;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut results = Vec::new();
    for name in &wanted {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let out = DescribeUserScramCredentialsResult::default().with_user(sb(name));
        let out = if counts[name.as_str()] > 1 {
            out.with_error_code(code(ResponseError::DuplicateResource))
                .with_error_message(Some(sb(&format!(
                    "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                ))))
        } else if let Some(mechs) = users.get(name) {
            out.with_credential_infos(
                mechs
                    .iter()
                    .map(|(m, c)| {
                        CredentialInfo::default()
                            .with_mechanism(m.code())
                            .with_iterations(i32::try_from(c.iterations).unwrap_or(i32::MAX))
                    })
                    .collect(),
            )
        } else {
            out.with_error_code(code(ResponseError::ResourceNotFound))
                .with_error_message(Some(sb(&format!(
                    "Attempt to describe nonexistent user {name}"
                ))))
        };
        results.push(out);
    }
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
