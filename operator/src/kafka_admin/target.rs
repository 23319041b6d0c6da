//! Which brokers, listener and identity the operator's admin connections use for a cluster
//! (issue 15's contract). A *secure* cluster (any listener with TLS or authentication, or an
//! authorizer) is reached on its operator-owned `replication` listener (port 9091, SASL_SSL,
//! SCRAM-SHA-512) trusting `<cluster>-cluster-ca-cert` and authenticating as `eddy-operator`
//! with `operator-password` from `<cluster>-internal-users`; any other cluster exactly as
//! before: plaintext, to the first listener's addresses. The choice (`plan`) is pure; `resolve`
//! reads the two Secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::Api;

use eddy_kafka_client::sasl::{Credentials, Mechanism};
use eddy_kafka_client::scram::ScramMechanism;
use eddy_kafka_client::{Security, Tls};

use crate::cluster::build::Names;
use crate::crd::{KafkaCluster, ListenerType};

pub use crate::cluster::security::{
    BROKER_USER, CA_CERT_KEY, OPERATOR_PASSWORD_KEY, OPERATOR_USER, is_secure,
};
pub use crate::cluster::validate::{REPLICATION_LISTENER, REPLICATION_PORT};

/// Why the admin connection of a cluster cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a Secret failed.
    #[error("reading secret {name}: {source}")]
    Read {
        /// Secret name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// A Secret or one of its keys does not exist (yet: the cluster reconcile creates them).
    #[error("secret {name} has no key {key} (not created yet?)")]
    Missing {
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
    /// The CA certificate does not parse.
    #[error("cluster CA certificate in {name}: {source}")]
    Ca {
        /// Secret name.
        name: String,
        /// Cause.
        source: eddy_kafka_client::Error,
    },
}

/// Names of the Secrets an admin connection to a secure cluster reads.
#[must_use]
pub fn cluster_ca_cert_secret(cluster: &str) -> String {
    format!("{cluster}-cluster-ca-cert")
}

/// The Secret with the operator's and brokers' own passwords.
#[must_use]
pub fn internal_users_secret(cluster: &str) -> String {
    format!("{cluster}-internal-users")
}

/// One broker to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The broker's id.
    pub broker_id: i32,
    /// `host:port`.
    pub address: String,
    /// The name its certificate must carry (secure clusters): the pod's DNS name, always in
    /// the broker certificate, even before the certificate names the pod's IP.
    pub server_name: Option<String>,
}

/// Where and how to connect (pure): the brokers, and whether the connection is the secure one
/// (which then needs the CA and the operator's password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Each broker, in broker order.
    pub endpoints: Vec<Endpoint>,
    /// TLS + SCRAM-SHA-512 as `eddy-operator` to the replication listener.
    pub secure: bool,
}

/// Chooses the admin addresses of `cluster` from its status: for a secure cluster, the
/// `replication` listener's addresses when the status lists it, else the brokers' hosts of the
/// first listener on port [`REPLICATION_PORT`]; otherwise the first listener's addresses.
#[must_use]
pub fn plan(cluster: &KafkaCluster) -> Plan {
    let listeners = cluster
        .status
        .as_ref()
        .map(|s| s.listeners.as_slice())
        .unwrap_or_default();
    let secure = is_secure(&cluster.spec);
    let names = Names::new(&cluster.metadata.name.clone().unwrap_or_default());
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let endpoint = |broker_id: i32, host: &str, port: i32| Endpoint {
        broker_id,
        address: format!("{host}:{port}"),
        server_name: secure.then(|| {
            format!(
                "{}.{}.{namespace}.svc",
                names.pod(broker_id),
                names.headless_service
            )
        }),
    };
    // Only an internal listener's addresses are the pods' own; a node port listener's are the
    // Nodes' (another port, and maybe unreachable from inside).
    let internal = || {
        listeners
            .iter()
            .filter(|l| l.type_ == ListenerType::Internal)
    };
    let listener = if secure {
        listeners
            .iter()
            .find(|l| l.name == REPLICATION_LISTENER)
            .map(|l| (l, None))
            .or_else(|| internal().next().map(|l| (l, Some(REPLICATION_PORT))))
    } else {
        internal().next().map(|l| (l, None))
    };
    let endpoints = match listener {
        Some((l, port)) => l
            .addresses
            .iter()
            .map(|a| endpoint(a.broker_id, &a.host, port.unwrap_or(a.port)))
            .collect(),
        // No internal listener: each broker by its pod DNS name, on the replication port (or
        // the first listener's container port), which every broker binds on its pod address.
        None => {
            let port = if secure {
                Some(REPLICATION_PORT)
            } else {
                cluster.spec.listeners.first().map(|l| l.port)
            };
            let ids = cluster
                .status
                .as_ref()
                .map(|s| s.broker_ids.as_slice())
                .unwrap_or_default();
            port.map(|port| {
                ids.iter()
                    .map(|id| {
                        let host = format!(
                            "{}.{}.{namespace}.svc",
                            names.pod(*id),
                            names.headless_service
                        );
                        endpoint(*id, &host, port)
                    })
                    .collect()
            })
            .unwrap_or_default()
        }
    };
    Plan { endpoints, secure }
}

/// A resolved admin target: addresses and the connection's security.
#[derive(Debug, Clone)]
pub struct Target {
    /// Each broker.
    pub endpoints: Vec<Endpoint>,
    /// TLS and SASL set-up (plaintext for a cluster that is not secure).
    pub security: Security,
}

fn key(secret: Option<&Secret>, name: &str, key: &str) -> Result<Vec<u8>, Error> {
    secret
        .and_then(|s| s.data.as_ref())
        .and_then(|d: &BTreeMap<_, _>| d.get(key))
        .map(|b| b.0.clone())
        .ok_or_else(|| Error::Missing {
            name: name.to_string(),
            key: key.to_string(),
        })
}

/// Resolves [`plan`] for `cluster`, reading the CA certificate and the operator's password
/// from the cluster's namespace when the cluster is secure.
///
/// # Errors
/// When a Secret cannot be read, lacks its key, or the CA does not parse.
pub async fn resolve(client: &kube::Client, cluster: &KafkaCluster) -> Result<Target, Error> {
    let plan = plan(cluster);
    if !plan.secure {
        return Ok(Target {
            endpoints: plan.endpoints,
            security: Security::plaintext(),
        });
    }
    let name = cluster.name_any();
    let secrets: Api<Secret> =
        Api::namespaced(client.clone(), &cluster.namespace().unwrap_or_default());
    let get = |n: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt(&n)
                .await
                .map_err(|source| Error::Read {
                    name: n.clone(),
                    source,
                })
                .map(|s| (n, s))
        }
    };
    let (ca_name, ca) = get(cluster_ca_cert_secret(&name)).await?;
    let (users_name, users) = get(internal_users_secret(&name)).await?;
    let ca_pem = key(ca.as_ref(), &ca_name, CA_CERT_KEY)?;
    let password = key(users.as_ref(), &users_name, OPERATOR_PASSWORD_KEY)?;
    let tls = Tls::trusting(&ca_pem).map_err(|source| Error::Ca {
        name: ca_name.clone(),
        source,
    })?;
    Ok(Target {
        endpoints: plan.endpoints,
        security: Security {
            tls: Some(tls),
            sasl: Some(Credentials {
                mechanism: Mechanism::Scram(ScramMechanism::Sha512),
                username: OPERATOR_USER.to_string(),
                password: String::from_utf8_lossy(&password).into_owned(),
            }),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ListenerStatus;
    use serde_json::json;

    fn cluster(spec: serde_json::Value, listeners: Vec<ListenerStatus>) -> KafkaCluster {
        serde_json::from_value(json!({
            "apiVersion": "eddy.io/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": spec,
            "status": {"listeners": listeners},
        }))
        .expect("cluster")
    }

    fn listener(name: &str, port: i32) -> ListenerStatus {
        serde_json::from_value(json!({
            "name": name,
            "bootstrapServers": "",
            "addresses": [
                {"brokerId": 0, "host": "127.0.1.1", "port": port},
                {"brokerId": 1, "host": "127.0.1.2", "port": port},
            ],
        }))
        .expect("listener")
    }

    fn addresses(p: &Plan) -> Vec<String> {
        p.endpoints.iter().map(|e| e.address.clone()).collect()
    }

    #[test]
    fn node_port_listeners_are_skipped_for_the_pods_own_addresses() {
        let mut external = listener("external", 30001);
        external.type_ = ListenerType::Nodeport;
        let mut c = cluster(
            serde_json::json!({"brokers": 2, "listeners": [
                {"name": "external", "port": 9094, "type": "nodeport"},
                {"name": "internal", "port": 9092}]}),
            vec![external.clone(), listener("internal", 9092)],
        );
        assert_eq!(
            addresses(&plan(&c)),
            vec!["127.0.1.1:9092", "127.0.1.2:9092"]
        );
        // Only node port listeners: the pods by DNS name on the container port.
        c.status.as_mut().expect("status").listeners = vec![external];
        c.status.as_mut().expect("status").broker_ids = vec![0, 1];
        assert_eq!(
            addresses(&plan(&c)),
            vec![
                "c-broker-0.c-brokers.ns.svc:9094",
                "c-broker-1.c-brokers.ns.svc:9094"
            ]
        );
    }

    #[test]
    fn plain_clusters_keep_the_first_listener_and_secure_ones_use_9091() {
        let plain = cluster(json!({"brokers": 2}), vec![listener("plaintext", 9092)]);
        let p = plan(&plain);
        assert!(!p.secure);
        assert_eq!(addresses(&p), vec!["127.0.1.1:9092", "127.0.1.2:9092"]);
        assert!(p.endpoints.iter().all(|e| e.server_name.is_none()));
        let tls = cluster(
            json!({"brokers": 2, "listeners": [{"name": "tls", "port": 9093, "tls": true}]}),
            vec![listener("tls", 9093)],
        );
        let p = plan(&tls);
        assert!(p.secure);
        assert_eq!(addresses(&p), vec!["127.0.1.1:9091", "127.0.1.2:9091"]);
        assert_eq!(
            p.endpoints[1].server_name.as_deref(),
            Some("c-broker-1.c-brokers.ns.svc"),
            "verified under the pod's DNS name, which its certificate always carries"
        );
        let acl_only = cluster(
            json!({"brokers": 2, "authorization": {"type": "simple"}}),
            vec![listener("plaintext", 9092), listener("replication", 9191)],
        );
        assert_eq!(
            addresses(&plan(&acl_only)),
            vec!["127.0.1.1:9191", "127.0.1.2:9191"],
            "a replication listener in status wins"
        );
        let none = cluster(json!({"brokers": 2}), vec![]);
        assert!(plan(&none).endpoints.is_empty());
    }
}
