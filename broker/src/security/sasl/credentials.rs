//! The SCRAM credentials of all users as the metadata images store them (user → mechanism →
//! credential), the changes AlterUserScramCredentials makes to them, and the bootstrap users
//! of `--add-scram` (Kafka's `kafka-storage format --add-scram` syntax).

use super::scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism};
use std::collections::BTreeMap;

/// Every user's SCRAM credentials: user name → mechanism → credential.
pub type ScramUsers = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

/// One change to a user's credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScramAlteration {
    Upsert {
        user: String,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    },
    Delete {
        user: String,
        mechanism: ScramMechanism,
    },
}

/// Applies alterations in order (deleting a missing credential does nothing).
pub fn apply(users: &mut ScramUsers, alterations: &[ScramAlteration]) {
    for a in alterations {
        match a {
            ScramAlteration::Upsert {
                user,
                mechanism,
                credential,
            } => {
                users
                    .entry(user.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
            }
            ScramAlteration::Delete { user, mechanism } => {
                if let Some(m) = users.get_mut(user) {
                    m.remove(mechanism);
                    if m.is_empty() {
                        users.remove(user);
                    }
                }
            }
        }
    }
}

/// Whether an iteration count is one Kafka accepts.
pub fn acceptable_iterations(iterations: i64) -> bool {
    (i64::from(MIN_ITERATIONS)..=i64::from(MAX_ITERATIONS)).contains(&iterations)
}

/// A bootstrap credential from `--add-scram`.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapScram {
    pub mechanism: ScramMechanism,
    pub user: String,
    pub password: String,
    pub iterations: u32,
}

impl std::fmt::Debug for BootstrapScram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapScram")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"[hidden]")
            .field("iterations", &self.iterations)
            .finish()
    }
}

/// Parses `SCRAM-SHA-512=[name=admin,password=secret]` (optionally `iterations=8192`; a value
/// may be double-quoted), as `kafka-storage format --add-scram` takes it.
pub fn parse_add_scram(s: &str) -> Result<BootstrapScram, String> {
    let (mech, rest) = s
        .trim()
        .split_once('=')
        .ok_or_else(|| "--add-scram: expected MECHANISM=[name=...,password=...]".to_string())?;
    let mechanism = ScramMechanism::from_name(mech.trim())
        .ok_or_else(|| format!("--add-scram: unknown SCRAM mechanism {mech:?}"))?;
    let inner = rest
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| "--add-scram: expected the options in [...]".to_string())?;
    let (mut user, mut password, mut iterations) = (None, None, MIN_ITERATIONS);
    for kv in inner.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--add-scram: option {kv:?} is not key=value"))?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        match k.trim() {
            "name" => user = Some(v.to_string()),
            "password" => password = Some(v.to_string()),
            "iterations" => {
                iterations = v
                    .parse()
                    .ok()
                    .filter(|i| acceptable_iterations(i64::from(*i)))
                    .ok_or_else(|| {
                        format!(
                            "--add-scram: iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}"
                        )
                    })?;
            }
            "salt" | "saltedpassword" => {
                return Err(format!("--add-scram: give a password, not {k}"));
            }
            other => return Err(format!("--add-scram: unknown option {other:?}")),
        }
    }
    match (user, password) {
        (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
            Ok(BootstrapScram {
                mechanism,
                user,
                password,
                iterations,
            })
        }
        _ => Err("--add-scram: name and password are required".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_scram_takes_kafka_storage_syntax() {
        let b = parse_add_scram("SCRAM-SHA-512=[name=admin,password=secret]").expect("parse");
        assert_eq!(b.mechanism, ScramMechanism::Sha512);
        assert_eq!((b.user.as_str(), b.password.as_str()), ("admin", "secret"));
        assert_eq!(b.iterations, 4096);
        let b = parse_add_scram("SCRAM-SHA-256=[name=\"bob\",password=\"p w\",iterations=8192]")
            .expect("quoted");
        assert_eq!(
            (b.user.as_str(), b.password.as_str(), b.iterations),
            ("bob", "p w", 8192)
        );
        for bad in [
            "SCRAM-SHA-1=[name=a,password=b]",
            "SCRAM-SHA-256=name=a,password=b",
            "SCRAM-SHA-256=[name=a]",
            "SCRAM-SHA-256=[name=a,password=b,iterations=100]",
            "SCRAM-SHA-256=[name=a,password=b,colour=red]",
        ] {
            assert!(parse_add_scram(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alterations_upsert_and_delete() {
        let cred = ScramCredential {
            salt: vec![1],
            stored_key: vec![2],
            server_key: vec![3],
            iterations: 4096,
        };
        let mut users = ScramUsers::new();
        apply(
            &mut users,
            &[
                ScramAlteration::Upsert {
                    user: "a".into(),
                    mechanism: ScramMechanism::Sha256,
                    credential: cred.clone(),
                },
                ScramAlteration::Upsert {
                    user: "a".into(),
                    mechanism: ScramMechanism::Sha512,
                    credential: cred,
                },
                ScramAlteration::Delete {
                    user: "a".into(),
                    mechanism: ScramMechanism::Sha256,
                },
            ],
        );
        assert_eq!(users["a"].len(), 1);
        let json = serde_json::to_string(&users).expect("json");
        assert!(json.contains("SCRAM-SHA-512"), "{json}");
        let back: ScramUsers = serde_json::from_str(&json).expect("back");
        assert_eq!(back, users);
        apply(
            &mut users,
            &[ScramAlteration::Delete {
                user: "a".into(),
                mechanism: ScramMechanism::Sha512,
            }],
        );
        assert!(users.is_empty());
    }
}
