//! AlterUserScramCredentials (v0): upserts (salt + salted password, as the client derives them;
//! the broker stores only StoredKey/ServerKey) and deletions of SCRAM credentials, with Kafka's
//! per-user results. The valid changes are written in one metadata change.

use super::{RequestContext, code, errors, sb};
use crate::security::acl::Operation;
use crate::security::sasl::credentials::{ScramAlteration, acceptable_iterations};
use crate::security::sasl::scram::{
    MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism,
};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use std::collections::BTreeMap;

#[tracing::instrument(skip_all)]
pub async fn handle(
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Users named more than once (in either list) are refused whole, as in Kafka.
    let mut mentions: BTreeMap<String, usize> = BTreeMap::new();
    for name in req
        .deletions
        .iter()
        .map(|d| &d.name)
        .chain(req.upsertions.iter().map(|u| &u.name))
    {
        *mentions.entry(name.as_str().to_string()).or_default() += 1;
    }
    let mut results: BTreeMap<String, Result<(), (ResponseError, String)>> = BTreeMap::new();
    // Kafka: ALTER on the cluster, or every user's result is CLUSTER_AUTHORIZATION_FAILED.
    if !ctx.authorize_cluster(Operation::Alter) {
        let denied = (
            ResponseError::ClusterAuthorizationFailed,
            "AlterUserScramCredentials needs ALTER on the cluster".to_string(),
        );
        for user in mentions.keys() {
            results.insert(user.clone(), Err(denied.clone()));
        }
        return respond(results);
    }
    let mut alterations: Vec<(String, ScramAlteration)> = Vec::new();
    let existing = ctx.metadata.scram_users();
    for d in &req.deletions {
        let user = d.name.as_str().to_string();
        let check = (|| {
            common_checks(&user, d.mechanism, &mentions)?;
            let mechanism =
                ScramMechanism::from_code(d.mechanism).unwrap_or(ScramMechanism::Sha256);
            if !existing
                .get(&user)
                .is_some_and(|m| m.contains_key(&mechanism))
            {
                return Err((
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".to_string(),
                ));
            }
            Ok(ScramAlteration::Delete {
                user: user.clone(),
                mechanism,
            })
        })();
        record(&mut results, &mut alterations, user, check);
    }
    for u in &req.upsertions {
        let user = u.name.as_str().to_string();
        let check = (|| {
            common_checks(&user, u.mechanism, &mentions)?;
            let mechanism =
                ScramMechanism::from_code(u.mechanism).unwrap_or(ScramMechanism::Sha256);
            if !acceptable_iterations(i64::from(u.iterations)) {
                return Err((
                    ResponseError::UnacceptableCredential,
                    format!(
                        "Iterations {} not in the range {MIN_ITERATIONS}..={MAX_ITERATIONS}",
                        u.iterations
                    ),
                ));
            }
            if u.salt.is_empty() || u.salted_password.is_empty() {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Salt and salted password must not be empty".to_string(),
                ));
            }
            Ok(ScramAlteration::Upsert {
                user: user.clone(),
                mechanism,
                credential: ScramCredential::from_salted_password(
                    mechanism,
                    &u.salted_password,
                    u.salt.to_vec(),
                    u.iterations as u32,
                ),
            })
        })();
        record(&mut results, &mut alterations, user, check);
    }
    if !alterations.is_empty() {
        let users: Vec<String> = alterations.iter().map(|(u, _)| u.clone()).collect();
        let changes = alterations.into_iter().map(|(_, a)| a).collect();
        if let Err(e) = ctx.metadata.alter_scram_credentials(changes) {
            let failure = (errors::control(&e), e.to_string());
            for u in users {
                results.insert(u, Err(failure.clone()));
            }
        } else {
            tracing::info!(users = ?users, principal = %ctx.principal, "altered SCRAM credentials");
        }
    }
    respond(results)
}

fn respond(
    results: BTreeMap<String, Result<(), (ResponseError, String)>>,
) -> AlterUserScramCredentialsResponse {
    let results = results
        .into_iter()
        .map(|(user, r)| {
            let out = AlterUserScramCredentialsResult::default().with_user(sb(&user));
            match r {
                Ok(()) => out,
                Err((e, message)) => out
                    .with_error_code(code(e))
                    .with_error_message(Some(sb(&message))),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

type Checked = Result<ScramAlteration, (ResponseError, String)>;

/// The checks deletions and upsertions share: a user name, named once, a known mechanism.
fn common_checks(
    user: &str,
    mechanism: i8,
    mentions: &BTreeMap<String, usize>,
) -> Result<(), (ResponseError, String)> {
    if user.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty".into(),
        ));
    }
    if mentions.get(user).copied().unwrap_or(0) > 1 {
        return Err((
            ResponseError::DuplicateResource,
            "A user credential cannot be altered twice in the same request".into(),
        ));
    }
    if ScramMechanism::from_code(mechanism).is_none() {
        return Err((
            ResponseError::UnsupportedSaslMechanism,
            format!("Unknown SCRAM mechanism type {mechanism}"),
        ));
    }
    Ok(())
}

fn record(
    results: &mut BTreeMap<String, Result<(), (ResponseError, String)>>,
    alterations: &mut Vec<(String, ScramAlteration)>,
    user: String,
    check: Checked,
) {
    match check {
        Ok(a) => {
            alterations.push((user.clone(), a));
            results.insert(user, Ok(()));
        }
        Err(e) => {
            results.insert(user, Err(e));
        }
    }
}
