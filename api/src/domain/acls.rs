//! ACLs of a Kafka user as the API takes them (snake_case, validated here, no I/O) and their
//! KafkaUser form (`spec.authorization.acls`, camelCase as in the CRD). The principal is always
//! the user itself.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most ACL entries one user may carry.
pub const MAX_ACLS: usize = 100;

/// Kafka resource kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AclResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// How the resource name matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AclPatternType {
    #[default]
    Literal,
    Prefix,
}

/// Kafka ACL operations (Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AclEffect {
    #[default]
    Allow,
    Deny,
}

/// One ACL entry of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    pub resource_type: AclResourceType,
    /// The resource name, `*` for every one; ignored for `cluster`.
    #[serde(default)]
    pub resource_name: String,
    #[serde(default)]
    pub pattern_type: AclPatternType,
    pub operations: Vec<AclOperation>,
    /// Client host, `*` (default) for any.
    #[serde(default = "any_host")]
    pub host: String,
    #[serde(default)]
    pub effect: AclEffect,
}

fn any_host() -> String {
    "*".into()
}

/// Why an ACL list is refused (422 on `acls`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("acls[{index}]: {why}")]
pub struct AclError {
    pub index: usize,
    pub why: &'static str,
}

/// Checks an ACL list: bounded, every entry with operations and a name where the kind needs one.
pub fn validate(acls: &[AclEntry]) -> Result<(), AclError> {
    if acls.len() > MAX_ACLS {
        return Err(AclError {
            index: MAX_ACLS,
            why: "at most 100 ACL entries per user",
        });
    }
    for (index, a) in acls.iter().enumerate() {
        let err = |why| Err(AclError { index, why });
        if a.operations.is_empty() {
            return err("at least one operation");
        }
        if a.resource_type != AclResourceType::Cluster
            && (a.resource_name.is_empty() || a.resource_name.len() > 249)
        {
            return err("resource_name is 1 to 249 characters (`*` for every resource)");
        }
        if a.host.is_empty() || a.host.len() > 253 || a.host.chars().any(char::is_whitespace) {
            return err("host is `*` or one address");
        }
    }
    Ok(())
}

fn crd_resource_type(t: AclResourceType) -> &'static str {
    match t {
        AclResourceType::Topic => "topic",
        AclResourceType::Group => "group",
        AclResourceType::Cluster => "cluster",
        AclResourceType::TransactionalId => "transactionalId",
    }
}

/// The KafkaUser `spec.authorization.acls` form of an ACL list.
pub fn to_crd(acls: &[AclEntry]) -> Value {
    Value::Array(
        acls.iter()
            .map(|a| {
                json!({
                    "resource": {
                        "type": crd_resource_type(a.resource_type),
                        "name": if a.resource_type == AclResourceType::Cluster { "kafka-cluster" } else { a.resource_name.as_str() },
                        "patternType": match a.pattern_type { AclPatternType::Literal => "literal", AclPatternType::Prefix => "prefix" },
                    },
                    "operations": a.operations,
                    "host": a.host,
                    "effect": match a.effect { AclEffect::Allow => "allow", AclEffect::Deny => "deny" },
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> AclEntry {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn entries_parse_with_defaults_and_become_crd_acls() {
        let a = entry(
            json!({"resource_type": "topic", "resource_name": "orders", "operations": ["Read", "Write"]}),
        );
        assert_eq!(
            (a.host.as_str(), a.effect, a.pattern_type),
            ("*", AclEffect::Allow, AclPatternType::Literal)
        );
        validate(std::slice::from_ref(&a)).unwrap();
        let crd = to_crd(&[
            a,
            entry(
                json!({"resource_type": "transactional_id", "resource_name": "tx", "pattern_type": "prefix", "operations": ["All"], "effect": "deny"}),
            ),
        ]);
        assert_eq!(
            crd,
            json!([
                {"resource": {"type": "topic", "name": "orders", "patternType": "literal"}, "operations": ["Read", "Write"], "host": "*", "effect": "allow"},
                {"resource": {"type": "transactionalId", "name": "tx", "patternType": "prefix"}, "operations": ["All"], "host": "*", "effect": "deny"}
            ])
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(
            serde_json::from_value::<AclEntry>(
                json!({"resource_type": "queue", "operations": ["Read"]})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<AclEntry>(
                json!({"resource_type": "topic", "operations": ["Fly"]})
            )
            .is_err()
        );
        let no_ops =
            entry(json!({"resource_type": "topic", "resource_name": "t", "operations": []}));
        assert_eq!(validate(&[no_ops]).unwrap_err().index, 0);
        let no_name = entry(json!({"resource_type": "group", "operations": ["Read"]}));
        assert!(validate(&[no_name]).is_err());
        let cluster = entry(json!({"resource_type": "cluster", "operations": ["Describe"]}));
        validate(std::slice::from_ref(&cluster)).unwrap();
        assert_eq!(to_crd(&[cluster])[0]["resource"]["name"], "kafka-cluster");
        let many = vec![
            entry(
                json!({"resource_type": "topic", "resource_name": "t", "operations": ["Read"]})
            );
            101
        ];
        assert!(validate(&many).is_err());
    }
}
