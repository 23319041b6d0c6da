//! Which stored quota a request runs under, with Kafka's precedence (ClientQuotaManager's
//! default callback), and the metric tags that say which clients share one measured rate.

use super::{ClientQuotaMap, EntityName, QuotaEntity};

/// The measured rate a quota applies to: clients with equal tags share one rate. Kafka's
/// tags: a user-level quota (`/users/<u>`, `/users/<default>`) is shared by all that user's
/// clients ("" client tag); a client-level one (`/clients/<c>`, `/clients/<default>`) by all
/// users of that client id ("" user tag); the others are per (user, client id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaTags {
    pub user: String,
    pub client_id: String,
}

/// The quota that applies and the rate it is measured on.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedQuota {
    pub bound: f64,
    pub tags: QuotaTags,
    /// The entity whose value was used (for logs).
    pub entity: QuotaEntity,
}

/// Kafka's precedence, most specific first:
/// /users/<u>/clients/<c>, /users/<u>/clients/<default>, /users/<u>,
/// /users/<default>/clients/<c>, /users/<default>/clients/<default>, /users/<default>,
/// /clients/<c>, /clients/<default>. The first entity that has `key` set wins; None means
/// unlimited.
pub fn resolve(
    map: &ClientQuotaMap,
    key: &str,
    user: &str,
    client_id: &str,
) -> Option<ResolvedQuota> {
    let u = || EntityName::Name(user.to_string());
    let c = || EntityName::Name(client_id.to_string());
    let d = || EntityName::Default;
    let both = |user: &str, client: &str| QuotaTags {
        user: user.to_string(),
        client_id: client.to_string(),
    };
    let candidates = [
        (QuotaEntity::user_client(u(), c()), both(user, client_id)),
        (QuotaEntity::user_client(u(), d()), both(user, client_id)),
        (QuotaEntity::user(u()), both(user, "")),
        (QuotaEntity::user_client(d(), c()), both(user, client_id)),
        (QuotaEntity::user_client(d(), d()), both(user, client_id)),
        (QuotaEntity::user(d()), both(user, "")),
        (QuotaEntity::client(c()), both("", client_id)),
        (QuotaEntity::client(d()), both("", client_id)),
    ];
    candidates.into_iter().find_map(|(entity, tags)| {
        map.get(&entity, key).map(|bound| ResolvedQuota {
            bound,
            tags,
            entity,
        })
    })
}

/// The connection-creation-rate quota of an IP: its own entry, else the IP default.
pub fn resolve_ip(map: &ClientQuotaMap, key: &str, ip: &str) -> Option<f64> {
    map.get(&QuotaEntity::ip(EntityName::Name(ip.to_string())), key)
        .or_else(|| map.get(&QuotaEntity::ip(EntityName::Default), key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::quota::{PRODUCER_BYTE_RATE, QuotaAlteration, QuotaValue};

    fn n(s: &str) -> EntityName {
        EntityName::Name(s.into())
    }

    fn with(entries: &[(QuotaEntity, f64)]) -> ClientQuotaMap {
        let mut m = ClientQuotaMap::default();
        m.apply(
            &entries
                .iter()
                .map(|(e, v)| QuotaAlteration {
                    entity: e.clone(),
                    set: [(PRODUCER_BYTE_RATE.to_string(), QuotaValue(*v))].into(),
                    remove: vec![],
                })
                .collect::<Vec<_>>(),
        );
        m
    }

    #[test]
    fn precedence_is_kafkas_from_most_to_least_specific() {
        let d = EntityName::Default;
        // One quota per level, valued by its rank; removing the winner exposes the next.
        let levels = [
            (QuotaEntity::user_client(n("alice"), n("app")), 1.0),
            (QuotaEntity::user_client(n("alice"), d.clone()), 2.0),
            (QuotaEntity::user(n("alice")), 3.0),
            (QuotaEntity::user_client(d.clone(), n("app")), 4.0),
            (QuotaEntity::user_client(d.clone(), d.clone()), 5.0),
            (QuotaEntity::user(d.clone()), 6.0),
            (QuotaEntity::client(n("app")), 7.0),
            (QuotaEntity::client(d.clone()), 8.0),
        ];
        for start in 0..levels.len() {
            let m = with(&levels[start..]);
            let r = resolve(&m, PRODUCER_BYTE_RATE, "alice", "app").expect("a quota applies");
            assert_eq!(r.bound, (start + 1) as f64, "level {start}");
            assert_eq!(r.entity, levels[start].0);
        }
        assert_eq!(
            resolve(
                &ClientQuotaMap::default(),
                PRODUCER_BYTE_RATE,
                "alice",
                "app"
            ),
            None
        );
    }

    #[test]
    fn entries_for_other_users_and_clients_do_not_apply() {
        let m = with(&[
            (QuotaEntity::user(n("bob")), 1.0),
            (QuotaEntity::client(n("other")), 2.0),
            (QuotaEntity::user_client(n("alice"), n("other")), 3.0),
        ]);
        assert_eq!(resolve(&m, PRODUCER_BYTE_RATE, "alice", "app"), None);
        assert_eq!(resolve(&m, "consumer_byte_rate", "bob", "app"), None);
    }

    #[test]
    fn tags_share_user_quotas_across_clients_and_client_quotas_across_users() {
        let m = with(&[(QuotaEntity::user(n("alice")), 10.0)]);
        let a = resolve(&m, PRODUCER_BYTE_RATE, "alice", "one").unwrap();
        let b = resolve(&m, PRODUCER_BYTE_RATE, "alice", "two").unwrap();
        assert_eq!(a.tags, b.tags, "one rate for all of alice's clients");
        let m = with(&[(QuotaEntity::client(EntityName::Default), 10.0)]);
        let a = resolve(&m, PRODUCER_BYTE_RATE, "alice", "one").unwrap();
        let b = resolve(&m, PRODUCER_BYTE_RATE, "bob", "one").unwrap();
        let c = resolve(&m, PRODUCER_BYTE_RATE, "alice", "two").unwrap();
        assert_eq!(a.tags, b.tags, "a client-id quota is shared by its users");
        assert_ne!(
            a.tags, c.tags,
            "the default applies to each client id separately"
        );
    }

    #[test]
    fn an_ip_uses_its_own_quota_then_the_default() {
        let mut m = ClientQuotaMap::default();
        let set = |e: QuotaEntity, v: f64| QuotaAlteration {
            entity: e,
            set: [("connection_creation_rate".to_string(), QuotaValue(v))].into(),
            remove: vec![],
        };
        m.apply(&[
            set(QuotaEntity::ip(EntityName::Default), 5.0),
            set(QuotaEntity::ip(n("10.0.0.1")), 1.0),
        ]);
        assert_eq!(
            resolve_ip(&m, "connection_creation_rate", "10.0.0.1"),
            Some(1.0)
        );
        assert_eq!(
            resolve_ip(&m, "connection_creation_rate", "10.0.0.2"),
            Some(5.0)
        );
    }
}
