//! Growth of the brokers' volume claims (pure): which claims are below the size the cluster
//! asks for, which of those the operator patches, and which it cannot grow because their
//! StorageClass does not allow expansion — reported in `status.storageClaims` and as a
//! `StorageGrowthNotSupported` warning instead of a log line and a patch the API server refuses
//! on every reconcile.
//!
//! Claim templates are immutable, so growth is a patch of each claim's request; where the class
//! has `allowVolumeExpansion: true` the resizer grows the volume and the file system online
//! (no broker restart), and the claim's `status.capacity` follows.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::ResourceExt as _;

use crate::crd::{ClaimGrowth, ClaimStatus};
use crate::quantity;

/// One data claim as the reconcile sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    /// Claim name (`data-<cluster>-<n>`).
    pub name: String,
    /// Its StorageClass, once the API server defaulted it.
    pub class: Option<String>,
    /// `spec.resources.requests.storage`.
    pub requested: Option<String>,
    /// `status.capacity.storage` (what the volume holds now).
    pub capacity: Option<String>,
    /// Whether the class allows expansion; `None` when the class could not be read.
    pub expandable: Option<bool>,
}

impl ClaimView {
    /// The view of `claim`, given what its class allows.
    #[must_use]
    pub fn of(claim: &PersistentVolumeClaim, expandable: Option<bool>) -> Self {
        let requested = claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone());
        let capacity = claim
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone());
        Self {
            name: claim.name_any(),
            class: claim
                .spec
                .as_ref()
                .and_then(|s| s.storage_class_name.clone()),
            requested,
            capacity,
            expandable,
        }
    }
}

fn bytes(q: Option<&String>) -> Option<u128> {
    q.and_then(|q| quantity::parse_bytes(q).ok())
}

/// Where one claim stands against the wanted `size`.
#[must_use]
pub fn growth(size: &str, claim: &ClaimView) -> ClaimGrowth {
    let Ok(wanted) = quantity::parse_bytes(size) else {
        return ClaimGrowth::Sized;
    };
    let requested = bytes(claim.requested.as_ref());
    let capacity = bytes(claim.capacity.as_ref());
    if requested.is_some_and(|r| r < wanted) {
        if claim.expandable == Some(false) {
            ClaimGrowth::CannotGrow
        } else {
            ClaimGrowth::Growing
        }
    } else if capacity.is_some_and(|c| c < wanted) {
        // Asked for, not yet there: the resizer (and the kubelet's file-system resize) works.
        ClaimGrowth::Resizing
    } else {
        ClaimGrowth::Sized
    }
}

/// The claims the operator patches to `size` now (their class allows it or is unknown: the
/// API server then decides, and a refusal is retried).
#[must_use]
pub fn to_grow<'a>(size: &str, claims: &'a [ClaimView]) -> Vec<&'a ClaimView> {
    claims
        .iter()
        .filter(|c| growth(size, c) == ClaimGrowth::Growing)
        .collect()
}

/// Every claim's status, in name order.
#[must_use]
pub fn statuses(size: &str, claims: &[ClaimView]) -> Vec<ClaimStatus> {
    let mut out: Vec<ClaimStatus> = claims
        .iter()
        .map(|c| ClaimStatus {
            name: c.name.clone(),
            storage_class: c.class.clone(),
            requested: c.requested.clone(),
            capacity: c.capacity.clone(),
            growth: growth(size, c),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The warning for claims whose class cannot grow, if any.
#[must_use]
pub fn refused_message(size: &str, claims: &[ClaimView]) -> Option<String> {
    let mut refused: Vec<&ClaimView> = claims
        .iter()
        .filter(|c| growth(size, c) == ClaimGrowth::CannotGrow)
        .collect();
    if refused.is_empty() {
        return None;
    }
    refused.sort_by(|a, b| a.name.cmp(&b.name));
    let mut classes: Vec<&str> = refused.iter().filter_map(|c| c.class.as_deref()).collect();
    classes.dedup();
    Some(format!(
        "storage size {size} cannot be applied: StorageClass {} does not allow volume expansion, \
         so claims {} keep their size (use a class with allowVolumeExpansion: true)",
        classes.join(", "),
        refused
            .iter()
            .map(|c| format!("{} ({})", c.name, c.requested.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(name: &str, requested: &str, capacity: &str, expandable: Option<bool>) -> ClaimView {
        ClaimView {
            name: name.to_owned(),
            class: Some(
                if expandable == Some(false) {
                    "local"
                } else {
                    "local-expandable"
                }
                .to_owned(),
            ),
            requested: Some(requested.to_owned()),
            capacity: Some(capacity.to_owned()),
            expandable,
        }
    }

    #[test]
    fn a_claim_below_the_size_grows_where_its_class_allows_and_is_refused_where_not() {
        let grow = claim("data-c-0", "1Gi", "1Gi", Some(true));
        let unknown = claim("data-c-1", "1Gi", "1Gi", None);
        let fixed = claim("data-c-2", "1Gi", "1Gi", Some(false));
        assert_eq!(growth("2Gi", &grow), ClaimGrowth::Growing);
        assert_eq!(growth("2Gi", &unknown), ClaimGrowth::Growing);
        assert_eq!(growth("2Gi", &fixed), ClaimGrowth::CannotGrow);
        let claims = [grow, unknown, fixed];
        let names: Vec<_> = to_grow("2Gi", &claims)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["data-c-0", "data-c-1"]);
        let msg = refused_message("2Gi", &claims).expect("a warning");
        assert!(
            msg.contains("data-c-2 (1Gi)") && msg.contains("StorageClass local "),
            "{msg}"
        );
        assert!(!msg.contains("data-c-0"), "{msg}");
    }

    #[test]
    fn a_patched_claim_is_resizing_until_its_capacity_follows() {
        assert_eq!(
            growth("2Gi", &claim("d", "2Gi", "1Gi", Some(true))),
            ClaimGrowth::Resizing
        );
        assert_eq!(
            growth("2Gi", &claim("d", "2Gi", "2Gi", Some(true))),
            ClaimGrowth::Sized
        );
        // Bigger than asked (a shrink is never applied) is sized, not a shrink.
        assert_eq!(
            growth("1Gi", &claim("d", "2Gi", "2Gi", Some(false))),
            ClaimGrowth::Sized
        );
        assert!(refused_message("1Gi", &[claim("d", "2Gi", "2Gi", Some(false))]).is_none());
    }

    #[test]
    fn statuses_are_in_name_order_with_their_growth() {
        let claims = [
            claim("data-c-1", "1Gi", "1Gi", Some(false)),
            claim("data-c-0", "2Gi", "1Gi", Some(true)),
        ];
        let st = statuses("2Gi", &claims);
        assert_eq!(st[0].name, "data-c-0");
        assert_eq!(st[0].growth, ClaimGrowth::Resizing);
        assert_eq!(st[1].growth, ClaimGrowth::CannotGrow);
    }
}
