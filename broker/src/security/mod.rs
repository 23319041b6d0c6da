//! Who is on the other end of a connection, and how it came in: the listeners' security
//! protocols (Kafka's `listener.security.protocol.map`) and the principal a request runs as.
//!
//! Authentication (TLS, SASL) sets a connection's principal; authorization and quotas read it
//! from the `RequestContext`.

pub mod acl;
pub mod admin_tls;
pub mod controller_listener;
pub mod quota;
pub mod sasl;
pub mod tls;

use std::fmt;
use std::str::FromStr;

/// A listener's security protocol, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections are wrapped in TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether a client must authenticate with SASL before any other request.
    pub fn is_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(format!(
                "unknown security protocol {other:?} (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
            )),
        }
    }
}

/// Kafka's default `listener.security.protocol.map`: each protocol's name maps to itself.
pub const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
pub fn parse_protocol_map(s: &str) -> Result<Vec<(String, SecurityProtocol)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, proto) = e
                .split_once(':')
                .ok_or_else(|| format!("entry {e:?} is not NAME:PROTOCOL"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("entry {e:?} has an empty listener name"));
            }
            Ok((name.to_ascii_uppercase(), proto.parse()?))
        })
        .collect()
}

/// A Kafka principal (`KafkaPrincipal`): a type and a name, written `User:alice`. Connections
/// that did not authenticate run as `User:ANONYMOUS`, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    pub const USER_TYPE: &'static str = "User";

    pub fn user(name: impl Into<String>) -> Self {
        Principal {
            principal_type: Self::USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal_type == Self::USER_TYPE && self.name == "ANONYMOUS"
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

impl FromStr for Principal {
    type Err = String;

    /// `User:alice` (the name may itself contain ':').
    fn from_str(s: &str) -> Result<Self, String> {
        let (t, n) = s
            .split_once(':')
            .ok_or_else(|| format!("principal {s:?} is not TYPE:NAME"))?;
        if t.is_empty() || n.is_empty() {
            return Err(format!("principal {s:?} is not TYPE:NAME"));
        }
        Ok(Principal {
            principal_type: t.to_string(),
            name: n.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_map_names_every_protocol() {
        let map = parse_protocol_map(DEFAULT_PROTOCOL_MAP).expect("default map");
        assert_eq!(map.len(), 4);
        assert!(map.contains(&("SASL_SSL".into(), SecurityProtocol::SaslSsl)));
        let custom = parse_protocol_map("INTERNAL:plaintext, EXTERNAL:SASL_SSL").expect("map");
        assert_eq!(custom[1], ("EXTERNAL".into(), SecurityProtocol::SaslSsl));
        for bad in ["INTERNAL", "INTERNAL:TLS", ":SSL"] {
            assert!(parse_protocol_map(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn principals_read_and_write_as_kafka_writes_them() {
        let p: Principal = "User:CN=alice,O=eddy".parse().expect("principal");
        assert_eq!(p.name, "CN=alice,O=eddy");
        assert_eq!(p.to_string(), "User:CN=alice,O=eddy");
        assert!(Principal::anonymous().is_anonymous());
        assert!("alice".parse::<Principal>().is_err());
    }
}
