//! Kafka's client quotas: the stored quota entities and values (`ClientQuotaMap`, kept in the
//! metadata image), their validation for AlterClientQuotas, the precedence that picks the quota a
//! request runs under (`resolve`), the sampled rates and throttle arithmetic (`rate`), the
//! per-broker bookkeeping that records bytes and time and answers throttle times (`manager`), and
//! the connection limits (`connections`).

pub mod connections;
pub mod manager;
pub mod rate;
pub mod resolve;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub use connections::{ConnectionLimits, ConnectionRefusal};
pub use manager::{QuotaManager, Throttle};
pub use rate::{Clock, QuotaWindow, SystemClock};

/// Kafka's quota keys.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// Kafka's entity types.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// Why a quota change was refused (AlterClientQuotas answers INVALID_REQUEST with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("{0}")]
    InvalidEntity(String),
    #[error("{0}")]
    InvalidKey(String),
    #[error("{0}")]
    InvalidValue(String),
}

/// The quota types a client's traffic is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaType {
    Produce,
    Fetch,
    Request,
}

impl QuotaType {
    /// The quota key whose value bounds this type.
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => PRODUCER_BYTE_RATE,
            QuotaType::Fetch => CONSUMER_BYTE_RATE,
            QuotaType::Request => REQUEST_PERCENTAGE,
        }
    }

    /// A stable metrics label (Kafka's quota type names).
    pub fn label(self) -> &'static str {
        match self {
            QuotaType::Produce => "produce",
            QuotaType::Fetch => "fetch",
            QuotaType::Request => "request",
        }
    }
}

/// One part of a quota entity: a named entity or the type's default (`<default>`, a null name
/// on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityName {
    Default,
    Name(String),
}

impl EntityName {
    /// From a wire name (null = default).
    pub fn from_wire(name: Option<&str>) -> Self {
        name.map_or(EntityName::Default, |n| EntityName::Name(n.to_string()))
    }

    /// The wire name (null = default).
    pub fn wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Name(n) => Some(n),
        }
    }
}

impl fmt::Display for EntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityName::Default => f.write_str("<default>"),
            EntityName::Name(n) => f.write_str(n),
        }
    }
}

/// A quota entity as Kafka has them: a user, a client id, both, or an IP address (each part
/// named or the default).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QuotaEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<EntityName>,
}

impl QuotaEntity {
    pub fn user(u: EntityName) -> Self {
        QuotaEntity {
            user: Some(u),
            client_id: None,
            ip: None,
        }
    }

    pub fn client(c: EntityName) -> Self {
        QuotaEntity {
            user: None,
            client_id: Some(c),
            ip: None,
        }
    }

    pub fn user_client(u: EntityName, c: EntityName) -> Self {
        QuotaEntity {
            user: Some(u),
            client_id: Some(c),
            ip: None,
        }
    }

    pub fn ip(ip: EntityName) -> Self {
        QuotaEntity {
            user: None,
            client_id: None,
            ip: Some(ip),
        }
    }

    /// Builds an entity from wire parts (type, name), checking Kafka's rules: known types, each
    /// at most once, ip alone, user and client-id alone or together, IPs that parse.
    pub fn from_parts<'a>(
        parts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, QuotaError> {
        let mut e = QuotaEntity {
            user: None,
            client_id: None,
            ip: None,
        };
        for (ty, name) in parts {
            let slot = match ty {
                USER => &mut e.user,
                CLIENT_ID => &mut e.client_id,
                IP => &mut e.ip,
                other => {
                    return Err(QuotaError::InvalidEntity(format!(
                        "unknown quota entity type {other:?} (expected user, client-id or ip)"
                    )));
                }
            };
            if slot.is_some() {
                return Err(QuotaError::InvalidEntity(format!(
                    "duplicate entity type {ty:?} in the quota entity"
                )));
            }
            *slot = Some(EntityName::from_wire(name));
        }
        if e.user.is_none() && e.client_id.is_none() && e.ip.is_none() {
            return Err(QuotaError::InvalidEntity("empty quota entity".into()));
        }
        if e.ip.is_some() && (e.user.is_some() || e.client_id.is_some()) {
            return Err(QuotaError::InvalidEntity(
                "an ip quota entity cannot be combined with user or client-id".into(),
            ));
        }
        if let Some(EntityName::Name(ip)) = &e.ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(QuotaError::InvalidEntity(format!(
                "{ip:?} is not a valid IP address"
            )));
        }
        if let Some(EntityName::Name(u)) = &e.user
            && u.is_empty()
        {
            return Err(QuotaError::InvalidEntity("empty user name".into()));
        }
        Ok(e)
    }

    /// The (type, name) parts in Kafka's order.
    pub fn parts(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out = Vec::new();
        if let Some(u) = &self.user {
            out.push((USER, u.wire()));
        }
        if let Some(c) = &self.client_id {
            out.push((CLIENT_ID, c.wire()));
        }
        if let Some(i) = &self.ip {
            out.push((IP, i.wire()));
        }
        out
    }

    fn is_ip(&self) -> bool {
        self.ip.is_some()
    }
}

impl fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for (ty, name) in self.parts() {
            write!(f, "{sep}{ty}={}", name.unwrap_or("<default>"))?;
            sep = ",";
        }
        Ok(())
    }
}

/// A quota value: non-negative and finite (validated), so equality is well defined.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl Eq for QuotaValue {}

/// The stored quotas: every entity with its values by key. Serialized as a list (JSON object
/// keys are strings only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientQuotaMap(pub BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>);

#[derive(Serialize, Deserialize)]
struct StoredQuota {
    entity: QuotaEntity,
    values: BTreeMap<String, QuotaValue>,
}

impl Serialize for ClientQuotaMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(entity, values)| StoredQuota {
            entity: entity.clone(),
            values: values.clone(),
        }))
    }
}

impl<'de> Deserialize<'de> for ClientQuotaMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<StoredQuota>::deserialize(d)?;
        Ok(ClientQuotaMap(
            list.into_iter().map(|q| (q.entity, q.values)).collect(),
        ))
    }
}

/// One entity's change in an AlterClientQuotas request: keys to set and keys to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaAlteration {
    pub entity: QuotaEntity,
    pub set: BTreeMap<String, QuotaValue>,
    pub remove: Vec<String>,
}

impl QuotaAlteration {
    /// Checks the keys and values against the entity's type (Kafka's rules: the byte rates and
    /// request percentage for users and client ids, connection_creation_rate for IPs only;
    /// non-negative finite values, whole numbers for the rates Kafka types as long/int).
    pub fn validate(&self) -> Result<(), QuotaError> {
        for key in self.set.keys().chain(self.remove.iter()) {
            let allowed = if self.entity.is_ip() {
                key == CONNECTION_CREATION_RATE
            } else {
                matches!(
                    key.as_str(),
                    PRODUCER_BYTE_RATE | CONSUMER_BYTE_RATE | REQUEST_PERCENTAGE
                )
            };
            if !allowed {
                return Err(QuotaError::InvalidKey(format!(
                    "quota key {key:?} is not valid for entity {}",
                    self.entity
                )));
            }
        }
        for (key, QuotaValue(v)) in &self.set {
            if !v.is_finite() || *v < 0.0 {
                return Err(QuotaError::InvalidValue(format!(
                    "quota {key} must be a non-negative number, got {v}"
                )));
            }
            if key != REQUEST_PERCENTAGE && v.fract() != 0.0 {
                return Err(QuotaError::InvalidValue(format!(
                    "quota {key} must be a whole number, got {v}"
                )));
            }
        }
        Ok(())
    }
}

impl ClientQuotaMap {
    /// Applies validated alterations (an entity left without values disappears).
    pub fn apply(&mut self, changes: &[QuotaAlteration]) {
        for c in changes {
            let values = self.0.entry(c.entity.clone()).or_default();
            for k in &c.remove {
                values.remove(k);
            }
            for (k, v) in &c.set {
                values.insert(k.clone(), *v);
            }
            if values.is_empty() {
                self.0.remove(&c.entity);
            }
        }
    }

    /// The value of `key` stored for exactly `entity`.
    pub fn get(&self, entity: &QuotaEntity, key: &str) -> Option<f64> {
        self.0.get(entity).and_then(|v| v.get(key)).map(|v| v.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> EntityName {
        EntityName::Name(n.into())
    }

    #[test]
    fn entities_follow_kafkas_combination_rules() {
        let e = QuotaEntity::from_parts([(USER, Some("alice")), (CLIENT_ID, None)]).unwrap();
        assert_eq!(
            e,
            QuotaEntity::user_client(name("alice"), EntityName::Default)
        );
        assert_eq!(e.to_string(), "user=alice,client-id=<default>");
        for bad in [
            vec![],
            vec![("topic", Some("x"))],
            vec![(USER, Some("a")), (USER, Some("b"))],
            vec![(IP, Some("127.0.0.1")), (USER, Some("a"))],
            vec![(IP, Some("not-an-ip"))],
        ] {
            assert!(QuotaEntity::from_parts(bad.clone()).is_err(), "{bad:?}");
        }
        assert!(QuotaEntity::from_parts([(IP, None)]).is_ok());
    }

    #[test]
    fn keys_and_values_are_checked_per_entity_type() {
        let alter = |entity: QuotaEntity, key: &str, v: f64| QuotaAlteration {
            entity,
            set: [(key.to_string(), QuotaValue(v))].into(),
            remove: vec![],
        };
        let client = QuotaEntity::client(name("c"));
        let ip = QuotaEntity::ip(name("127.0.0.1"));
        assert!(
            alter(client.clone(), PRODUCER_BYTE_RATE, 1024.0)
                .validate()
                .is_ok()
        );
        assert!(
            alter(client.clone(), REQUEST_PERCENTAGE, 12.5)
                .validate()
                .is_ok()
        );
        assert!(
            alter(client.clone(), CONNECTION_CREATION_RATE, 5.0)
                .validate()
                .is_err()
        );
        assert!(alter(client.clone(), "bogus", 5.0).validate().is_err());
        assert!(
            alter(client.clone(), PRODUCER_BYTE_RATE, -1.0)
                .validate()
                .is_err()
        );
        assert!(
            alter(client.clone(), PRODUCER_BYTE_RATE, 1.5)
                .validate()
                .is_err()
        );
        assert!(
            alter(client, CONSUMER_BYTE_RATE, f64::NAN)
                .validate()
                .is_err()
        );
        assert!(
            alter(ip.clone(), CONNECTION_CREATION_RATE, 5.0)
                .validate()
                .is_ok()
        );
        assert!(alter(ip, PRODUCER_BYTE_RATE, 5.0).validate().is_err());
    }

    #[test]
    fn the_map_applies_changes_and_round_trips_through_json() {
        let mut m = ClientQuotaMap::default();
        let e = QuotaEntity::user(EntityName::Default);
        m.apply(&[QuotaAlteration {
            entity: e.clone(),
            set: [
                (PRODUCER_BYTE_RATE.to_string(), QuotaValue(10.0)),
                (CONSUMER_BYTE_RATE.to_string(), QuotaValue(20.0)),
            ]
            .into(),
            remove: vec![],
        }]);
        assert_eq!(m.get(&e, PRODUCER_BYTE_RATE), Some(10.0));
        let json = serde_json::to_string(&m).unwrap();
        let back: ClientQuotaMap = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        m.apply(&[QuotaAlteration {
            entity: e.clone(),
            set: BTreeMap::new(),
            remove: vec![PRODUCER_BYTE_RATE.into(), CONSUMER_BYTE_RATE.into()],
        }]);
        assert!(m.0.is_empty(), "an entity without values is dropped");
    }
}
