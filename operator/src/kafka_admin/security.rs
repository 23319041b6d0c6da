//! The admin calls behind KafkaUser: SCRAM credentials (Alter/DescribeUserScramCredentials —
//! the salted password is derived here, so the broker only ever receives and stores derived
//! keys), ACLs (Create/Describe/DeleteAcls) and client quotas (Alter/DescribeClientQuotas) of
//! one principal, with the ACL binding as a plain comparable value so the reconciler can diff
//! desired against observed sets.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, CreateAclsRequest,
    DeleteAclsRequest, DescribeAclsRequest, DescribeClientQuotasRequest,
    DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;

use eddy_kafka_client::scram::{self, ScramMechanism};

use super::{AdminClient, Error, check};

/// Kafka error code of a user without SCRAM credentials (RESOURCE_NOT_FOUND).
pub const RESOURCE_NOT_FOUND: i16 = 91;
/// Iterations of the credentials the operator creates (Kafka's minimum is 4096, its
/// AlterUserScramCredentials maximum 16384).
pub const SCRAM_ITERATIONS: u32 = 8192;
/// The ANY value of ACL filters' resource type, pattern type, operation and permission.
const ANY: i8 = 1;
/// The client-quota entity type of users.
const USER_ENTITY: &str = "user";

/// Kafka's ACL resource types (`org.apache.kafka.common.resource.ResourceType`).
pub mod resource_type {
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A consumer group.
    pub const GROUP: i8 = 3;
    /// The cluster.
    pub const CLUSTER: i8 = 4;
    /// A transactional id.
    pub const TRANSACTIONAL_ID: i8 = 5;
}

/// Kafka's ACL pattern types (`PatternType`).
pub mod pattern_type {
    /// The exact name.
    pub const LITERAL: i8 = 3;
    /// A name prefix.
    pub const PREFIXED: i8 = 4;
}

/// Kafka's ACL permission types (`AclPermissionType`).
pub mod permission {
    /// Refuse.
    pub const DENY: i8 = 2;
    /// Grant.
    pub const ALLOW: i8 = 3;
}

/// One ACL as the broker stores it: a resource pattern, a principal, a host, an operation and
/// a permission, all in Kafka's wire codes. Ordered so sets of them diff cheaply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    /// Resource type code ([`resource_type`]).
    pub resource_type: i8,
    /// Resource name (`kafka-cluster` for the cluster, `*` for every resource).
    pub resource_name: String,
    /// Pattern type code ([`pattern_type`]).
    pub pattern_type: i8,
    /// Principal, `User:<name>`.
    pub principal: String,
    /// Client host, `*` for any.
    pub host: String,
    /// Operation code (Kafka's `AclOperation`: 2 = ALL, 3 = READ ...).
    pub operation: i8,
    /// Permission code ([`permission`]).
    pub permission: i8,
}

/// A SCRAM credential the broker holds for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramInfo {
    /// Its mechanism.
    pub mechanism: ScramMechanism,
    /// Its iteration count.
    pub iterations: i32,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn user_entity(user: Option<&str>) -> EntityData {
    EntityData::default()
        .with_entity_type(s(USER_ENTITY))
        .with_entity_name(user.map(s))
}

impl AdminClient {
    /// Creates or replaces `user`'s `mechanism` credential for `password`: the salted password
    /// is derived here with a fresh random salt and [`SCRAM_ITERATIONS`], as Kafka's admin
    /// client does.
    ///
    /// # Errors
    /// Protocol or broker errors; [`Error::Codec`] when no randomness is available.
    pub async fn upsert_scram(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
    ) -> Result<(), Error> {
        let salt = scram::random_bytes(32).map_err(|e| Error::Codec(e.to_string()))?;
        let salted = mechanism.salted_password(password.as_bytes(), &salt, SCRAM_ITERATIONS);
        let upsertion = ScramCredentialUpsertion::default()
            .with_name(s(user))
            .with_mechanism(mechanism.code())
            .with_iterations(i32::try_from(SCRAM_ITERATIONS).unwrap_or(i32::MAX))
            .with_salt(salt.into())
            .with_salted_password(salted.into());
        let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]);
        let resp = self.conn.call(&req, 0).await?;
        for r in resp.results {
            check(
                "alter scram credentials",
                r.error_code,
                r.error_message.as_ref(),
            )?;
        }
        Ok(())
    }

    /// Deletes `user`'s `mechanism` credential; a missing one is not an error.
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn delete_scram(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Result<(), Error> {
        let deletion = ScramCredentialDeletion::default()
            .with_name(s(user))
            .with_mechanism(mechanism.code());
        let req = AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]);
        let resp = self.conn.call(&req, 0).await?;
        for r in resp.results {
            if r.error_code != RESOURCE_NOT_FOUND {
                check(
                    "delete scram credentials",
                    r.error_code,
                    r.error_message.as_ref(),
                )?;
            }
        }
        Ok(())
    }

    /// The SCRAM credentials the broker holds for `user` (empty when it has none).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn describe_scram(&mut self, user: &str) -> Result<Vec<ScramInfo>, Error> {
        let req = DescribeUserScramCredentialsRequest::default()
            .with_users(Some(vec![UserName::default().with_name(s(user))]));
        let resp = self.conn.call(&req, 0).await?;
        check(
            "describe scram credentials",
            resp.error_code,
            resp.error_message.as_ref(),
        )?;
        let mut out = Vec::new();
        for r in resp.results {
            if r.error_code == RESOURCE_NOT_FOUND {
                continue;
            }
            check(
                "describe scram credentials",
                r.error_code,
                r.error_message.as_ref(),
            )?;
            out.extend(r.credential_infos.iter().filter_map(|c| {
                Some(ScramInfo {
                    mechanism: ScramMechanism::from_code(c.mechanism)?,
                    iterations: c.iterations,
                })
            }));
        }
        Ok(out)
    }

    /// Every ACL whose principal is `principal`, whatever its resource.
    ///
    /// # Errors
    /// Protocol or broker errors (SECURITY_DISABLED when the cluster has no authorizer).
    pub async fn describe_acls(&mut self, principal: &str) -> Result<Vec<AclBinding>, Error> {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_principal_filter(Some(s(principal)))
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY);
        let resp = self.conn.call(&req, 3).await?;
        check(
            "describe acls",
            resp.error_code,
            resp.error_message.as_ref(),
        )?;
        let mut out = Vec::new();
        for r in resp.resources {
            for a in r.acls {
                out.push(AclBinding {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.as_str().to_string(),
                    pattern_type: r.pattern_type,
                    principal: a.principal.as_str().to_string(),
                    host: a.host.as_str().to_string(),
                    operation: a.operation,
                    permission: a.permission_type,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// Creates `acls` (existing ones are not an error).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn create_acls(&mut self, acls: &[AclBinding]) -> Result<(), Error> {
        if acls.is_empty() {
            return Ok(());
        }
        let creations = acls
            .iter()
            .map(|a| {
                AclCreation::default()
                    .with_resource_type(a.resource_type)
                    .with_resource_name(s(&a.resource_name))
                    .with_resource_pattern_type(a.pattern_type)
                    .with_principal(s(&a.principal))
                    .with_host(s(&a.host))
                    .with_operation(a.operation)
                    .with_permission_type(a.permission)
            })
            .collect();
        let resp = self
            .conn
            .call(&CreateAclsRequest::default().with_creations(creations), 3)
            .await?;
        for r in resp.results {
            check("create acls", r.error_code, r.error_message.as_ref())?;
        }
        Ok(())
    }

    /// Deletes exactly `acls` (each as an exact-match filter).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn delete_acls(&mut self, acls: &[AclBinding]) -> Result<(), Error> {
        if acls.is_empty() {
            return Ok(());
        }
        let filters = acls
            .iter()
            .map(|a| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(a.resource_type)
                    .with_resource_name_filter(Some(s(&a.resource_name)))
                    .with_pattern_type_filter(a.pattern_type)
                    .with_principal_filter(Some(s(&a.principal)))
                    .with_host_filter(Some(s(&a.host)))
                    .with_operation(a.operation)
                    .with_permission_type(a.permission)
            })
            .collect();
        let resp = self
            .conn
            .call(&DeleteAclsRequest::default().with_filters(filters), 3)
            .await?;
        for r in resp.filter_results {
            check("delete acls", r.error_code, r.error_message.as_ref())?;
        }
        Ok(())
    }

    /// The quotas set on the user entity `user` exactly (`None`: the default user entity,
    /// `<default>`), by key (`producer_byte_rate` ...).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn describe_user_quotas(
        &mut self,
        user: Option<&str>,
    ) -> Result<BTreeMap<String, f64>, Error> {
        let component = ComponentData::default()
            .with_entity_type(s(USER_ENTITY))
            .with_match_type(if user.is_some() { 0 } else { 1 })
            .with_match(user.map(s));
        let req = DescribeClientQuotasRequest::default()
            .with_components(vec![component])
            .with_strict(true);
        let resp = self.conn.call(&req, 1).await?;
        check(
            "describe client quotas",
            resp.error_code,
            resp.error_message.as_ref(),
        )?;
        let mut out = BTreeMap::new();
        for entry in resp.entries.unwrap_or_default() {
            let is_target = entry.entity.len() == 1
                && entry.entity[0].entity_type.as_str() == USER_ENTITY
                && entry.entity[0].entity_name.as_ref().map(StrBytes::as_str) == user;
            if is_target {
                for v in entry.values {
                    out.insert(v.key.as_str().to_string(), v.value);
                }
            }
        }
        Ok(out)
    }

    /// Sets `set` and removes `remove` on the user entity `user` (`None`: `<default>`).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn alter_user_quotas(
        &mut self,
        user: Option<&str>,
        set: &BTreeMap<String, f64>,
        remove: &[String],
    ) -> Result<(), Error> {
        if set.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut ops: Vec<OpData> = set
            .iter()
            .map(|(k, v)| OpData::default().with_key(s(k)).with_value(*v))
            .collect();
        ops.extend(
            remove
                .iter()
                .map(|k| OpData::default().with_key(s(k)).with_remove(true)),
        );
        let entry = EntryData::default()
            .with_entity(vec![user_entity(user)])
            .with_ops(ops);
        let req = AlterClientQuotasRequest::default().with_entries(vec![entry]);
        let resp = self.conn.call(&req, 1).await?;
        for r in resp.entries {
            check(
                "alter client quotas",
                r.error_code,
                r.error_message.as_ref(),
            )?;
        }
        Ok(())
    }
}
