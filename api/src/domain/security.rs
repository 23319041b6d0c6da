//! Plan features made real, with no I/O: the listeners a cluster gets (secure by default, in
//! CloudKarafka's layout), whether its authorizer is on, and which Kafka-user mechanisms and ACLs
//! a plan allows. The KafkaCluster the API writes and every Kafka-user request are checked here.

use serde::{Deserialize, Serialize};

/// Feature names of the plans catalog that change what a cluster offers.
pub mod feature {
    /// SASL/SCRAM users: the internal 9092 listener asks for SCRAM-SHA-512, and with `tls` the
    /// 9094 listener serves SCRAM over TLS.
    pub const SASL_SCRAM: &str = "sasl_scram";
    /// TLS listeners (9094 with `sasl_scram`; needed by `mtls`).
    pub const TLS: &str = "tls";
    /// TLS client certificates: a 9093 listener with `authentication: tls`, and `tls` users.
    pub const MTLS: &str = "mtls";
    /// Kafka ACLs: the authorizer is on and users carry ACLs.
    pub const ACLS: &str = "acls";
    /// Opt-in, never in the shipped catalog: the internal 9092 listener accepts anonymous
    /// PLAINTEXT clients (for trusted networks and tests only).
    pub const PLAINTEXT: &str = "plaintext";
}

/// Errors of feature checks: requests beyond the plan (422) and inconsistent catalogs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// The request needs a feature the cluster's plan does not list.
    #[error("the plan {plan} does not include {feature}: {why}")]
    NotInPlan {
        plan: String,
        feature: &'static str,
        why: &'static str,
    },
    /// The catalog lists features that give a cluster no usable listener.
    #[error("plan {0} offers no listener: list sasl_scram, mtls (with tls) or plaintext")]
    NoListener(String),
    /// `mtls` needs `tls`.
    #[error("plan {0} lists mtls without tls")]
    MtlsWithoutTls(String),
    /// No listener of the plan's clusters accepts the user's mechanism: the user could never
    /// sign in.
    #[error("no listener of a {plan} cluster accepts {mechanism}")]
    NoListenerFor {
        plan: String,
        mechanism: &'static str,
    },
}

/// A listener's client authentication, spelled as in the KafkaCluster CRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ListenerAuth {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "tls")]
    Tls,
}

impl ListenerAuth {
    /// The CRD value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ScramSha512 => "scram-sha-512",
            Self::Tls => "tls",
        }
    }
}

/// One listener the KafkaCluster gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerPlan {
    pub name: &'static str,
    pub port: i32,
    pub tls: bool,
    pub authentication: ListenerAuth,
}

/// What a plan's features turn into on the KafkaCluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSecurity {
    /// Client listeners, the one clients should use first (the first is the cluster's
    /// `bootstrap_servers`).
    pub listeners: Vec<ListenerPlan>,
    /// `authorization: {type: simple}`: the authorizer enforces ACLs.
    pub authorization: bool,
}

fn has(features: &[String], f: &str) -> bool {
    features.iter().any(|x| x == f)
}

/// The listeners and authorization a plan's features give, in CloudKarafka's layout:
/// 9094 SCRAM over TLS (`sasl_scram` + `tls`), 9093 TLS client certificates (`mtls`), and an
/// internal 9092 listener that asks for SCRAM-SHA-512 without TLS (`sasl_scram`) or, only when
/// the plan opts in with `plaintext`, nothing. Secure by default: no plan gets an anonymous
/// listener without saying so.
pub fn cluster_security(
    plan_id: &str,
    features: &[String],
) -> Result<ClusterSecurity, FeatureError> {
    let scram = has(features, feature::SASL_SCRAM);
    let tls = has(features, feature::TLS);
    let mtls = has(features, feature::MTLS);
    if mtls && !tls {
        return Err(FeatureError::MtlsWithoutTls(plan_id.to_string()));
    }
    let mut listeners = Vec::new();
    if scram && tls {
        listeners.push(ListenerPlan {
            name: "tls",
            port: 9094,
            tls: true,
            authentication: ListenerAuth::ScramSha512,
        });
    }
    if mtls {
        listeners.push(ListenerPlan {
            name: "mtls",
            port: 9093,
            tls: true,
            authentication: ListenerAuth::Tls,
        });
    }
    if has(features, feature::PLAINTEXT) {
        listeners.push(ListenerPlan {
            // Named after its protocol: a cluster that is not secure gets Kafka's default
            // `listener.security.protocol.map`, which knows `PLAINTEXT` and not `INTERNAL`.
            name: "plaintext",
            port: 9092,
            tls: false,
            authentication: ListenerAuth::None,
        });
    } else if scram {
        listeners.push(ListenerPlan {
            name: "internal",
            port: 9092,
            tls: false,
            authentication: ListenerAuth::ScramSha512,
        });
    }
    if listeners.is_empty() {
        return Err(FeatureError::NoListener(plan_id.to_string()));
    }
    Ok(ClusterSecurity {
        listeners,
        authorization: has(features, feature::ACLS),
    })
}

/// How a Kafka user authenticates, spelled as in the KafkaUser CRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Mechanism {
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "tls")]
    Tls,
}

impl Mechanism {
    /// The stored and CRD name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScramSha512 => "scram-sha-512",
            Self::ScramSha256 => "scram-sha-256",
            Self::Tls => "tls",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::ScramSha512, Self::ScramSha256, Self::Tls]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    /// Whether users of this mechanism sign in with a password.
    pub fn has_password(self) -> bool {
        self != Self::Tls
    }

    /// The SASL mechanism clients configure (`SCRAM-SHA-512`), none for certificates.
    pub fn sasl_name(self) -> Option<&'static str> {
        match self {
            Self::ScramSha512 => Some("SCRAM-SHA-512"),
            Self::ScramSha256 => Some("SCRAM-SHA-256"),
            Self::Tls => None,
        }
    }
}

/// Checks that the plan allows users of `mechanism`: SCRAM needs `sasl_scram`, certificates
/// need `mtls`.
pub fn check_mechanism(
    plan_id: &str,
    features: &[String],
    mechanism: Mechanism,
) -> Result<(), FeatureError> {
    let (needed, why) = match mechanism {
        Mechanism::ScramSha512 | Mechanism::ScramSha256 => (
            feature::SASL_SCRAM,
            "SCRAM users need a plan with sasl_scram",
        ),
        Mechanism::Tls => (
            feature::MTLS,
            "certificate (tls) users need a plan with mtls",
        ),
    };
    if !has(features, needed) {
        return Err(FeatureError::NotInPlan {
            plan: plan_id.to_string(),
            feature: needed,
            why,
        });
    }
    // A user no listener accepts would be created and never sign in. The plans' SCRAM
    // listeners take both SCRAM mechanisms (the operator enables SCRAM-SHA-512 and -256 on
    // every SCRAM listener), and `mtls` always brings the 9093 certificate listener.
    let served = match mechanism {
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => cluster_security(plan_id, features)?
            .listeners
            .iter()
            .any(|l| l.authentication == ListenerAuth::ScramSha512),
        Mechanism::Tls => true,
    };
    if served {
        Ok(())
    } else {
        Err(FeatureError::NoListenerFor {
            plan: plan_id.to_string(),
            mechanism: mechanism.sasl_name().unwrap_or("tls"),
        })
    }
}

/// Checks that the plan allows ACLs on users (any non-empty ACL list).
pub fn check_acls(
    plan_id: &str,
    features: &[String],
    acl_count: usize,
) -> Result<(), FeatureError> {
    if acl_count == 0 || has(features, feature::ACLS) {
        Ok(())
    } else {
        Err(FeatureError::NotInPlan {
            plan: plan_id.to_string(),
            feature: feature::ACLS,
            why: "ACLs per user need a plan with acls",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn scram_and_tls_give_9094_and_an_authenticated_internal_listener() {
        let s = cluster_security("p", &f(&["sasl_scram", "tls"])).unwrap();
        assert!(!s.authorization);
        let got: Vec<_> = s
            .listeners
            .iter()
            .map(|l| (l.name, l.port, l.tls, l.authentication.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("tls", 9094, true, "scram-sha-512"),
                ("internal", 9092, false, "scram-sha-512")
            ]
        );
    }

    #[test]
    fn mtls_adds_9093_and_acls_turn_the_authorizer_on() {
        let s = cluster_security("p", &f(&["sasl_scram", "tls", "mtls", "acls"])).unwrap();
        assert!(s.authorization);
        assert_eq!(
            s.listeners.iter().map(|l| l.port).collect::<Vec<_>>(),
            [9094, 9093, 9092]
        );
        assert_eq!(s.listeners[1].authentication, ListenerAuth::Tls);
    }

    #[test]
    fn no_anonymous_listener_unless_the_plan_opts_in() {
        for features in [
            f(&["sasl_scram"]),
            f(&["sasl_scram", "tls"]),
            f(&["sasl_scram", "tls", "mtls", "acls"]),
        ] {
            let s = cluster_security("p", &features).unwrap();
            assert!(
                s.listeners
                    .iter()
                    .all(|l| l.authentication != ListenerAuth::None),
                "{features:?}"
            );
        }
        let s = cluster_security("p", &f(&["plaintext"])).unwrap();
        assert_eq!(
            (s.listeners[0].name, s.listeners[0].authentication),
            ("plaintext", ListenerAuth::None)
        );
        assert_eq!(
            cluster_security("p", &f(&["tls"])),
            Err(FeatureError::NoListener("p".into()))
        );
        assert_eq!(
            cluster_security("p", &f(&["sasl_scram", "mtls"])),
            Err(FeatureError::MtlsWithoutTls("p".into()))
        );
    }

    #[test]
    fn user_mechanisms_and_acls_follow_the_plan() {
        let small = f(&["sasl_scram", "tls"]);
        assert!(check_mechanism("s", &small, Mechanism::ScramSha512).is_ok());
        assert!(check_mechanism("s", &small, Mechanism::ScramSha256).is_ok());
        // A plan whose only listener is anonymous serves no SCRAM user at all.
        assert!(matches!(
            check_mechanism(
                "p",
                &f(&["sasl_scram", "plaintext"]),
                Mechanism::ScramSha256
            ),
            Err(FeatureError::NoListenerFor {
                mechanism: "SCRAM-SHA-256",
                ..
            })
        ));
        assert!(matches!(
            check_mechanism("s", &small, Mechanism::Tls),
            Err(FeatureError::NotInPlan {
                feature: "mtls",
                ..
            })
        ));
        assert!(check_acls("s", &small, 0).is_ok());
        assert!(matches!(
            check_acls("s", &small, 1),
            Err(FeatureError::NotInPlan {
                feature: "acls",
                ..
            })
        ));
        let dedicated = f(&["sasl_scram", "tls", "mtls", "acls"]);
        assert!(check_mechanism("d", &dedicated, Mechanism::Tls).is_ok());
        assert!(check_acls("d", &dedicated, 3).is_ok());
    }

    #[test]
    fn mechanisms_round_trip() {
        for m in [
            Mechanism::ScramSha512,
            Mechanism::ScramSha256,
            Mechanism::Tls,
        ] {
            assert_eq!(Mechanism::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::Value::String(m.as_str().into())
            );
        }
        assert_eq!(Mechanism::parse("plain"), None);
        assert!(!Mechanism::Tls.has_password());
    }
}
