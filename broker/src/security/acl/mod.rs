//! Kafka's ACL model: resource patterns, access control entries and the filters that
//! CreateAcls/DescribeAcls/DeleteAcls carry, with Kafka's wire codes. The decision rules
//! (KIP-801's StandardAuthorizer) are in `authorizer.rs`; the bindings themselves are stored in
//! the metadata image (local file or Raft log) and indexed there.

mod authorizer;

pub use authorizer::{AUTHORIZER_CLASSES, AclIndex, Authorizer, AuthorizerError, Requester};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The `*` resource name of a LITERAL pattern: matches every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// The `*` host: any client address.
pub const WILDCARD_HOST: &str = "*";
/// The `User:*` principal: every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The one resource name of the CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Why an ACL binding or filter cannot be used (CreateAcls/DeleteAcls/DescribeAcls answer
/// INVALID_REQUEST with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("{0}")]
    Invalid(String),
    /// DELEGATION_TOKEN and USER resources: Kafka has them, this broker does not.
    #[error("{0}")]
    Unsupported(String),
}

/// A resource type an ACL can address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

impl ResourceType {
    pub const ANY_CODE: i8 = 1;

    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
        }
    }

    /// The type of a wire code; ANY (1) is only a filter value (`filter_from_code`).
    pub fn from_code(code: i8) -> Result<Self, AclError> {
        match code {
            2 => Ok(ResourceType::Topic),
            3 => Ok(ResourceType::Group),
            4 => Ok(ResourceType::Cluster),
            5 => Ok(ResourceType::TransactionalId),
            6 | 7 => Err(AclError::Unsupported(format!(
                "resource type {} is not supported by this broker",
                if code == 6 {
                    "DELEGATION_TOKEN"
                } else {
                    "USER"
                }
            ))),
            _ => Err(AclError::Invalid(format!("invalid resource type {code}"))),
        }
    }

    /// A filter's resource type: None for ANY.
    pub fn filter_from_code(code: i8) -> Result<Option<Self>, AclError> {
        if code == Self::ANY_CODE {
            return Ok(None);
        }
        Self::from_code(code).map(Some)
    }

    /// The operations Kafka defines for this resource type (`AclEntry.supportedOperations`),
    /// the bits of KIP-430's `authorized_operations`.
    pub fn operations(self) -> &'static [Operation] {
        use Operation as O;
        match self {
            ResourceType::Topic => &[
                O::Read,
                O::Write,
                O::Create,
                O::Describe,
                O::Delete,
                O::Alter,
                O::DescribeConfigs,
                O::AlterConfigs,
            ],
            ResourceType::Group => &[O::Read, O::Describe, O::Delete],
            ResourceType::Cluster => &[
                O::Create,
                O::ClusterAction,
                O::DescribeConfigs,
                O::AlterConfigs,
                O::IdempotentWrite,
                O::Alter,
                O::Describe,
            ],
            ResourceType::TransactionalId => &[O::Describe, O::Write],
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceType::Topic => "TOPIC",
            ResourceType::Group => "GROUP",
            ResourceType::Cluster => "CLUSTER",
            ResourceType::TransactionalId => "TRANSACTIONAL_ID",
        })
    }
}

/// How a binding's resource name matches resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PatternType {
    /// The exact name (or `*`: every resource of the type).
    Literal,
    /// Every resource whose name starts with it.
    Prefixed,
}

impl PatternType {
    pub fn code(self) -> i8 {
        match self {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }

    pub fn from_code(code: i8) -> Result<Self, AclError> {
        match code {
            3 => Ok(PatternType::Literal),
            4 => Ok(PatternType::Prefixed),
            _ => Err(AclError::Invalid(format!(
                "invalid pattern type {code} for an ACL binding (LITERAL or PREFIXED)"
            ))),
        }
    }
}

/// A filter's pattern type: one pattern type, ANY (either, names compared exactly) or MATCH
/// (every binding that would apply to the named resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternFilter {
    Any,
    Match,
    Exactly(PatternType),
}

impl PatternFilter {
    pub fn from_code(code: i8) -> Result<Self, AclError> {
        match code {
            1 => Ok(PatternFilter::Any),
            2 => Ok(PatternFilter::Match),
            _ => PatternType::from_code(code).map(PatternFilter::Exactly),
        }
    }
}

/// An operation on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
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

impl Operation {
    pub const ANY_CODE: i8 = 1;

    pub fn code(self) -> i8 {
        match self {
            Operation::All => 2,
            Operation::Read => 3,
            Operation::Write => 4,
            Operation::Create => 5,
            Operation::Delete => 6,
            Operation::Alter => 7,
            Operation::Describe => 8,
            Operation::ClusterAction => 9,
            Operation::DescribeConfigs => 10,
            Operation::AlterConfigs => 11,
            Operation::IdempotentWrite => 12,
        }
    }

    pub fn from_code(code: i8) -> Result<Self, AclError> {
        Ok(match code {
            2 => Operation::All,
            3 => Operation::Read,
            4 => Operation::Write,
            5 => Operation::Create,
            6 => Operation::Delete,
            7 => Operation::Alter,
            8 => Operation::Describe,
            9 => Operation::ClusterAction,
            10 => Operation::DescribeConfigs,
            11 => Operation::AlterConfigs,
            12 => Operation::IdempotentWrite,
            13 | 14 => {
                return Err(AclError::Unsupported(format!(
                    "operation {code} (delegation tokens) is not supported by this broker"
                )));
            }
            _ => return Err(AclError::Invalid(format!("invalid operation {code}"))),
        })
    }

    /// A filter's operation: None for ANY.
    pub fn filter_from_code(code: i8) -> Result<Option<Self>, AclError> {
        if code == Self::ANY_CODE {
            return Ok(None);
        }
        Self::from_code(code).map(Some)
    }

    /// Whether an ALLOW of `self` grants `wanted`: ALL grants everything; DESCRIBE is implied by
    /// READ, WRITE, DELETE and ALTER; DESCRIBE_CONFIGS by ALTER_CONFIGS (Kafka's implications).
    pub fn allows(self, wanted: Operation) -> bool {
        use Operation as O;
        self == O::All
            || self == wanted
            || (wanted == O::Describe && matches!(self, O::Read | O::Write | O::Delete | O::Alter))
            || (wanted == O::DescribeConfigs && self == O::AlterConfigs)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::All => "ALL",
            Operation::Read => "READ",
            Operation::Write => "WRITE",
            Operation::Create => "CREATE",
            Operation::Delete => "DELETE",
            Operation::Alter => "ALTER",
            Operation::Describe => "DESCRIBE",
            Operation::ClusterAction => "CLUSTER_ACTION",
            Operation::DescribeConfigs => "DESCRIBE_CONFIGS",
            Operation::AlterConfigs => "ALTER_CONFIGS",
            Operation::IdempotentWrite => "IDEMPOTENT_WRITE",
        })
    }
}

/// ALLOW or DENY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    Deny,
    Allow,
}

impl Permission {
    pub const ANY_CODE: i8 = 1;

    pub fn code(self) -> i8 {
        match self {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }

    pub fn from_code(code: i8) -> Result<Self, AclError> {
        match code {
            2 => Ok(Permission::Deny),
            3 => Ok(Permission::Allow),
            _ => Err(AclError::Invalid(format!("invalid permission type {code}"))),
        }
    }

    /// A filter's permission: None for ANY.
    pub fn filter_from_code(code: i8) -> Result<Option<Self>, AclError> {
        if code == Self::ANY_CODE {
            return Ok(None);
        }
        Self::from_code(code).map(Some)
    }
}

/// One ACL: who (principal, host) may or may not do what (operation) on which resources
/// (type, name, pattern type). Kafka's `AclBinding`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for every principal.
    pub principal: String,
    /// An IP address, or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// A binding from CreateAcls' wire fields, checked as Kafka checks them.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: &str,
        pattern_type: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> Result<Self, AclError> {
        let resource_type = ResourceType::from_code(resource_type)?;
        let pattern_type = PatternType::from_code(pattern_type)?;
        let operation = Operation::from_code(operation)?;
        let permission = Permission::from_code(permission)?;
        if resource_name.is_empty() {
            return Err(AclError::Invalid("the resource name is empty".into()));
        }
        if resource_type == ResourceType::Cluster && resource_name != CLUSTER_NAME {
            return Err(AclError::Invalid(format!(
                "the CLUSTER resource is named {CLUSTER_NAME}, not {resource_name:?}"
            )));
        }
        if pattern_type == PatternType::Prefixed && resource_name == WILDCARD_RESOURCE {
            return Err(AclError::Invalid(
                "a PREFIXED pattern cannot be the wildcard '*' (use LITERAL '*')".into(),
            ));
        }
        if !resource_type.operations().contains(&operation) && operation != Operation::All {
            return Err(AclError::Invalid(format!(
                "operation {operation} does not apply to {resource_type} resources"
            )));
        }
        principal
            .parse::<super::Principal>()
            .map_err(|e| AclError::Invalid(format!("invalid principal: {e}")))?;
        if host.is_empty() || (host != WILDCARD_HOST && host.parse::<std::net::IpAddr>().is_err()) {
            return Err(AclError::Invalid(format!(
                "invalid host {host:?}: an IP address or '*'"
            )));
        }
        Ok(AclBinding {
            resource_type,
            resource_name: resource_name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        })
    }

    /// Whether this binding's pattern applies to resource `name` of `rt` (exact name, the `*`
    /// literal, or a prefix).
    pub fn pattern_matches(&self, rt: ResourceType, name: &str) -> bool {
        self.resource_type == rt
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == name || self.resource_name == WILDCARD_RESOURCE
                }
                PatternType::Prefixed => name.starts_with(self.resource_name.as_str()),
            }
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} on {}:{}:{:?} for {} from {}",
            self.permission,
            self.operation,
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host
        )
    }
}

/// A DescribeAcls/DeleteAcls filter (Kafka's `AclBindingFilter`): None fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// The filter that matches every binding.
    pub fn any() -> Self {
        AclFilter {
            resource_type: None,
            resource_name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    /// A filter from the wire fields of DescribeAcls / DeleteAcls.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<&str>,
        pattern: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<Self, AclError> {
        let filter = AclFilter {
            resource_type: ResourceType::filter_from_code(resource_type)?,
            resource_name: resource_name.map(str::to_string),
            pattern: PatternFilter::from_code(pattern)?,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation: Operation::filter_from_code(operation)?,
            permission: Permission::filter_from_code(permission)?,
        };
        if let Some(p) = &filter.principal {
            p.parse::<super::Principal>()
                .map_err(|e| AclError::Invalid(format!("invalid principal filter: {e}")))?;
        }
        Ok(filter)
    }

    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, b: &AclBinding) -> bool {
        self.resource_type.is_none_or(|t| t == b.resource_type)
            && self.pattern_matches(b)
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && self.operation.is_none_or(|o| o == b.operation)
            && self.permission.is_none_or(|p| p == b.permission)
    }

    /// Kafka's `ResourcePatternFilter.matches` (the type is checked by the caller).
    fn pattern_matches(&self, b: &AclBinding) -> bool {
        if let PatternFilter::Exactly(p) = self.pattern
            && p != b.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        match self.pattern {
            PatternFilter::Any | PatternFilter::Exactly(_) => *name == b.resource_name,
            PatternFilter::Match => match b.pattern_type {
                PatternType::Literal => {
                    *name == b.resource_name || b.resource_name == WILDCARD_RESOURCE
                }
                PatternType::Prefixed => name.starts_with(b.resource_name.as_str()),
            },
        }
    }
}

#[cfg(test)]
mod tests;
