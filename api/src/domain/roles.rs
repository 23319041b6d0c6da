//! Roles and what each may do: the single permission matrix every route checks.

use serde::{Deserialize, Serialize};

/// A member's role in an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
    BillingManager,
}

/// Something a route does, checked against the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadClusters,
    WriteClusters,
    ReadBilling,
    WriteBilling,
    ReadMembers,
    ManageMembers,
    ManageApiKeys,
    ReadAudit,
    /// Notification channels and alarm rules (owners and admins).
    ManageAlarms,
}

impl Role {
    /// Every role, for exhaustive tests and validation messages.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Member,
        Role::Viewer,
        Role::BillingManager,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
            Self::BillingManager => "billing_manager",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do `p`.
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Self::Owner => true,
            Self::Admin => true,
            Self::Member => matches!(p, P::ReadClusters | P::WriteClusters | P::ReadMembers),
            Self::Viewer => matches!(p, P::ReadClusters | P::ReadMembers),
            // Sees and pays invoices, edits billing details; cannot touch clusters.
            Self::BillingManager => matches!(p, P::ReadBilling | P::WriteBilling | P::ReadMembers),
        }
    }

    /// Rank for "may grant": a role can only hand out roles at or below its own.
    fn rank(self) -> u8 {
        match self {
            Self::Owner => 4,
            Self::Admin => 3,
            Self::Member | Self::BillingManager => 2,
            Self::Viewer => 1,
        }
    }

    /// Whether a caller with this role may grant (invite with, set, scope a key to) `other`.
    pub fn may_grant(self, other: Role) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => other != Self::Owner,
            // Non-managers may only scope their own API keys, at or below themselves.
            _ => other == self || (other.rank() < self.rank() && other == Self::Viewer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn billing_manager_cannot_touch_clusters() {
        assert!(!Role::BillingManager.allows(Permission::ReadClusters));
        assert!(!Role::BillingManager.allows(Permission::WriteClusters));
        assert!(Role::BillingManager.allows(Permission::WriteBilling));
    }

    #[test]
    fn viewer_reads_only() {
        assert!(Role::Viewer.allows(Permission::ReadClusters));
        for p in [
            Permission::WriteClusters,
            Permission::ManageMembers,
            Permission::ReadBilling,
            Permission::ManageApiKeys,
        ] {
            assert!(!Role::Viewer.allows(p));
        }
    }

    #[test]
    fn nobody_grants_above_themselves() {
        assert!(!Role::Admin.may_grant(Role::Owner));
        assert!(Role::Owner.may_grant(Role::Owner));
        assert!(!Role::Member.may_grant(Role::Admin));
        assert!(!Role::Viewer.may_grant(Role::Member));
        assert!(Role::Member.may_grant(Role::Viewer));
        for r in Role::ALL {
            assert!(r.may_grant(r));
        }
    }
}
