//! The authorizer: KIP-801's StandardAuthorizer decision rules over an in-memory index of the
//! ACL bindings, rebuilt whenever the metadata image that stores them changes (single node:
//! on every ACL change; cluster: when each broker applies the image).

use super::{
    AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};
use crate::security::Principal;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// The `authorizer.class.name` values that turn the authorizer on (Kafka's KRaft and ZooKeeper
/// authorizers; both get StandardAuthorizer semantics here).
pub const AUTHORIZER_CLASSES: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

/// Why the authorizer's settings are refused at start.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    #[error(
        "authorizer.class.name {0:?} is not supported (use org.apache.kafka.metadata.authorizer.StandardAuthorizer)"
    )]
    UnknownClass(String),
    #[error("super.users: {0}")]
    SuperUser(String),
}

/// The bindings, indexed by the resource names their patterns name.
#[derive(Debug, Default)]
pub struct AclIndex {
    all: BTreeSet<AclBinding>,
    literal: HashMap<(ResourceType, String), Vec<AclBinding>>,
    prefixed: HashMap<(ResourceType, String), Vec<AclBinding>>,
}

impl AclIndex {
    pub fn new<'a>(bindings: impl IntoIterator<Item = &'a AclBinding>) -> Self {
        let mut index = AclIndex::default();
        for b in bindings {
            if !index.all.insert(b.clone()) {
                continue;
            }
            let key = (b.resource_type, b.resource_name.clone());
            match b.pattern_type {
                PatternType::Literal => index.literal.entry(key).or_default().push(b.clone()),
                PatternType::Prefixed => index.prefixed.entry(key).or_default().push(b.clone()),
            }
        }
        index
    }

    /// Every binding whose pattern applies to resource `name` of type `rt`.
    fn applying(&self, rt: ResourceType, name: &str) -> impl Iterator<Item = &AclBinding> {
        let exact = self.literal.get(&(rt, name.to_string()));
        let wildcard = (name != WILDCARD_RESOURCE)
            .then(|| self.literal.get(&(rt, WILDCARD_RESOURCE.to_string())))
            .flatten();
        let prefixes: Vec<&Vec<AclBinding>> = if self.prefixed.is_empty() {
            Vec::new()
        } else {
            name.char_indices()
                .map(|(i, c)| &name[..i + c.len_utf8()])
                .filter_map(|p| self.prefixed.get(&(rt, p.to_string())))
                .collect()
        };
        exact
            .into_iter()
            .chain(wildcard)
            .chain(prefixes)
            .flat_map(|v| v.iter())
    }

    /// The bindings `filter` matches, in a stable order.
    pub fn matching(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.all
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// Who asks, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a Principal,
    /// The client's IP address as text (`127.0.0.1`).
    pub host: &'a str,
}

/// The broker's authorizer (see the module comment). Off (`authorizer.class.name` empty)
/// allows everything.
pub struct Authorizer {
    enabled: bool,
    super_users: HashSet<String>,
    allow_if_no_acl: bool,
    index: RwLock<Arc<AclIndex>>,
}

impl Authorizer {
    /// From the broker settings `authorizer.class.name`, `super.users` (`;`-separated
    /// principals) and `allow.everyone.if.no.acl.found`.
    pub fn new(
        class_name: &str,
        super_users: &str,
        allow_if_no_acl: bool,
    ) -> Result<Self, AuthorizerError> {
        let class_name = class_name.trim();
        if !class_name.is_empty() && !AUTHORIZER_CLASSES.contains(&class_name) {
            return Err(AuthorizerError::UnknownClass(class_name.to_string()));
        }
        let mut supers = HashSet::new();
        for s in super_users
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let p: Principal = s.parse().map_err(AuthorizerError::SuperUser)?;
            supers.insert(p.to_string());
        }
        Ok(Authorizer {
            enabled: !class_name.is_empty(),
            super_users: supers,
            allow_if_no_acl,
            index: RwLock::new(Arc::new(AclIndex::default())),
        })
    }

    /// An authorizer that allows everything (no `authorizer.class.name`).
    pub fn disabled() -> Self {
        Authorizer {
            enabled: false,
            super_users: HashSet::new(),
            allow_if_no_acl: true,
            index: RwLock::new(Arc::new(AclIndex::default())),
        }
    }

    /// Whether an authorizer is configured (the ACL APIs answer SECURITY_DISABLED otherwise).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Replaces the index with the stored bindings (after the image changed).
    pub fn load<'a>(&self, bindings: impl IntoIterator<Item = &'a AclBinding>) {
        let bindings: BTreeSet<&AclBinding> = bindings.into_iter().collect();
        // Cluster mode reloads on every image change; most change no ACL.
        if self.index().all.iter().eq(bindings.iter().copied()) {
            return;
        }
        let index = Arc::new(AclIndex::new(bindings));
        *self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = index;
    }

    /// The current index (for DescribeAcls/DeleteAcls).
    pub fn index(&self) -> Arc<AclIndex> {
        Arc::clone(
            &self
                .index
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Whether `who` may do `op` on resource `name` of type `rt`: super users may do
    /// anything; a matching DENY wins; else a matching ALLOW (with Kafka's implications);
    /// with no binding on the resource at all, `allow.everyone.if.no.acl.found` decides.
    pub fn authorize(
        &self,
        who: Requester<'_>,
        op: Operation,
        rt: ResourceType,
        name: &str,
    ) -> bool {
        if !self.enabled {
            return true;
        }
        if self.super_users.contains(&who.principal.to_string()) {
            return true;
        }
        let index = self.index();
        decide(&index, who, op, rt, name).unwrap_or(self.allow_if_no_acl)
    }

    /// KIP-430's `authorized_operations`: a bit (1 << code) for each operation of `rt` that
    /// `who` may do on `name`; every operation of the type when the authorizer is off.
    pub fn authorized_operations(&self, who: Requester<'_>, rt: ResourceType, name: &str) -> i32 {
        rt.operations()
            .iter()
            .filter(|op| self.authorize(who, **op, rt, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }

    /// Whether `who` may do `op` on at least one resource of type `rt` (Kafka's
    /// `authorizeByResourceType`, used for idempotent producers' WRITE on any topic): some
    /// ALLOW binding of the type applies to the principal and host, and no DENY of the same
    /// operation on a LITERAL `*` or on every name that such an ALLOW could address.
    pub fn authorize_any(&self, who: Requester<'_>, op: Operation, rt: ResourceType) -> bool {
        if !self.enabled || self.super_users.contains(&who.principal.to_string()) {
            return true;
        }
        let index = self.index();
        let principal = who.principal.to_string();
        let applies = |b: &AclBinding| {
            b.resource_type == rt
                && (b.principal == principal || b.principal == WILDCARD_PRINCIPAL)
                && (b.host == WILDCARD_HOST || b.host == who.host)
        };
        let denied_everywhere = index.all.iter().any(|b| {
            applies(b)
                && b.permission == Permission::Deny
                && (b.operation == op || b.operation == Operation::All)
                && b.pattern_type == PatternType::Literal
                && b.resource_name == WILDCARD_RESOURCE
        });
        if denied_everywhere {
            return false;
        }
        let allowed = index.all.iter().filter(|b| applies(b)).any(|b| {
            b.permission == Permission::Allow
                && b.operation.allows(op)
                && decide(&index, who, op, rt, &b.resource_name) == Some(true)
        });
        allowed || (self.allow_if_no_acl && index.all.iter().all(|b| b.resource_type != rt))
    }
}

/// The decision from the bindings alone: Some(allowed) when any binding applies to the
/// resource, None when none does (the no-ACL default then decides).
fn decide(
    index: &AclIndex,
    who: Requester<'_>,
    op: Operation,
    rt: ResourceType,
    name: &str,
) -> Option<bool> {
    let principal = who.principal.to_string();
    let mut found = false;
    let mut allowed = false;
    for b in index.applying(rt, name) {
        found = true;
        if !(b.principal == principal || b.principal == WILDCARD_PRINCIPAL) {
            continue;
        }
        if !(b.host == WILDCARD_HOST || b.host == who.host) {
            continue;
        }
        match b.permission {
            Permission::Deny if b.operation == Operation::All || b.operation == op => {
                return Some(false);
            }
            Permission::Deny => {}
            Permission::Allow => allowed |= b.operation.allows(op),
        }
    }
    found.then_some(allowed)
}
