//! SASL/PLAIN (RFC 4616) as Kafka's `PlainSaslServer` runs it: one message
//! `[authzid] NUL user NUL password`, checked against the listener's JAAS users
//! (`user_<name>="<password>"`) and otherwise against the user's SCRAM credentials.

use std::collections::BTreeMap;

/// Why a PLAIN message was refused (for the log; the client sees Kafka's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    #[error("malformed PLAIN message: {0}")]
    Malformed(&'static str),
    #[error("authorization id {authzid:?} differs from the user name {user:?}")]
    AuthorizationId { authzid: String, user: String },
    #[error("invalid user name or password for {0:?}")]
    InvalidCredentials(String),
}

/// A parsed PLAIN message.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainMessage {
    pub user: String,
    pub password: String,
}

/// Parses `[authzid] NUL user NUL password` (UTF-8; user and password non-empty; an
/// authorization id, if any, must be the user, as in Kafka).
pub fn parse(msg: &[u8]) -> Result<PlainMessage, PlainError> {
    let msg = std::str::from_utf8(msg).map_err(|_| PlainError::Malformed("not UTF-8"))?;
    let mut parts = msg.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError::Malformed("expected 3 NUL-separated fields"));
    };
    if user.is_empty() {
        return Err(PlainError::Malformed("empty user name"));
    }
    if password.is_empty() {
        return Err(PlainError::Malformed("empty password"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(PlainError::AuthorizationId {
            authzid: authzid.into(),
            user: user.into(),
        });
    }
    Ok(PlainMessage {
        user: user.into(),
        password: password.into(),
    })
}

/// The `user_<name>="<password>"` options of a JAAS config
/// (`org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="secret";`).
pub fn jaas_users(jaas: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in jaas_options(jaas)? {
        if let Some(user) = key.strip_prefix("user_") {
            if user.is_empty() {
                return Err("a user_ option without a user name".into());
            }
            out.insert(user.to_string(), value);
        }
    }
    Ok(out)
}

/// The `key="value"` (or `key=value`) options of a JAAS config entry, after the login module
/// class and its control flag; values may contain `\"` escapes.
pub fn jaas_options(jaas: &str) -> Result<Vec<(String, String)>, String> {
    let body = jaas.trim().trim_end_matches(';').trim();
    let mut words = body.splitn(3, char::is_whitespace);
    let (Some(_module), Some(flag)) = (words.next(), words.next()) else {
        return Err("expected `LoginModule flag options;`".into());
    };
    if !["required", "requisite", "sufficient", "optional"].contains(&flag) {
        return Err(format!("unknown JAAS control flag {flag:?}"));
    }
    let rest = words.next().unwrap_or_default();
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!("option {key:?} has no value"));
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or("unterminated value")?),
                    Some(c) => value.push(c),
                    None => return Err(format!("option {key} has an unterminated value")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_parse_like_kafka() {
        assert_eq!(
            parse(b"\0alice\0pw"),
            Ok(PlainMessage {
                user: "alice".into(),
                password: "pw".into()
            })
        );
        assert!(parse(b"alice\0alice\0pw").is_ok());
        assert!(matches!(
            parse(b"bob\0alice\0pw"),
            Err(PlainError::AuthorizationId { .. })
        ));
        for bad in [
            &b""[..],
            b"\0\0pw",
            b"\0a\0",
            b"a\0b",
            b"\0a\0b\0c",
            b"\0\xff\0x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jaas_users_are_read_from_kafkas_syntax() {
        let users = jaas_users(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a \"q\" b";"#,
        )
        .expect("jaas");
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "a \"q\" b");
        assert!(jaas_users("PlainLoginModule maybe user_a=\"x\";").is_err());
        assert!(jaas_users("PlainLoginModule required user_a=\"x").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128), s in "[ -~]{0,80}") {
            let _ = parse(&data);
            let _ = jaas_users(&s);
        }
    }
}
