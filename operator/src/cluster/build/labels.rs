//! Object names and labels of a KafkaCluster's owned objects (pure).
use std::collections::BTreeMap;

/// Label holding the owning KafkaCluster's name.
pub const CLUSTER_LABEL: &str = "eddy.io/cluster";
/// Label holding the component (`broker`).
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Names of the objects owned by one KafkaCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The KafkaCluster's name.
    pub cluster: String,
    /// StatefulSet; pods are `<stateful_set>-<ordinal>`.
    pub stateful_set: String,
    /// Headless governing Service.
    pub headless_service: String,
    /// Bootstrap ClusterIP Service.
    pub bootstrap_service: String,
    /// ConfigMap with server.properties.
    pub config_map: String,
    /// ServiceAccount of the broker pods.
    pub service_account: String,
    /// PodDisruptionBudget.
    pub pod_disruption_budget: String,
    /// Generated cluster CA (`ca.crt`, `ca.key`).
    pub cluster_ca: String,
    /// The cluster CA certificates clients and brokers trust (`ca.crt`).
    pub cluster_ca_cert: String,
    /// Generated clients CA (`ca.crt`, `ca.key`).
    pub clients_ca: String,
    /// The clients CA certificates brokers trust on `authentication: tls` listeners.
    pub clients_ca_cert: String,
    /// Broker certificates: `<pod>.crt`, `<pod>.key`, `<pod>.pem`.
    pub broker_certs: String,
    /// Passwords of the operator's and the brokers' own SCRAM users.
    pub internal_users: String,
}

impl Names {
    /// Names for cluster `cluster`.
    #[must_use]
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            stateful_set: format!("{cluster}-broker"),
            headless_service: format!("{cluster}-brokers"),
            bootstrap_service: format!("{cluster}-bootstrap"),
            config_map: format!("{cluster}-config"),
            service_account: format!("{cluster}-broker"),
            pod_disruption_budget: format!("{cluster}-broker"),
            cluster_ca: format!("{cluster}-cluster-ca"),
            cluster_ca_cert: format!("{cluster}-cluster-ca-cert"),
            clients_ca: format!("{cluster}-clients-ca"),
            clients_ca_cert: format!("{cluster}-clients-ca-cert"),
            broker_certs: format!("{cluster}-broker-certs"),
            internal_users: format!("{cluster}-internal-users"),
        }
    }

    /// Every Secret the operator may write for this cluster.
    #[must_use]
    pub fn operator_secrets(&self) -> [&str; 6] {
        [
            &self.cluster_ca,
            &self.cluster_ca_cert,
            &self.clients_ca,
            &self.clients_ca_cert,
            &self.broker_certs,
            &self.internal_users,
        ]
    }

    /// NodePort Service of broker `ordinal` on a `nodeport` listener: `<pod>-<listener>`.
    #[must_use]
    pub fn node_port_service(&self, ordinal: i32, listener: &str) -> String {
        format!("{}-{listener}", self.pod(ordinal))
    }

    /// Bootstrap NodePort Service of a `nodeport` listener: `<cluster>-<listener>-bootstrap`.
    #[must_use]
    pub fn node_port_bootstrap(&self, listener: &str) -> String {
        format!("{}-{listener}-bootstrap", self.cluster)
    }

    /// ConfigMap key (and file under the config mount) of broker `ordinal`'s node-port
    /// advertised addresses.
    #[must_use]
    pub fn advertised_key(&self, ordinal: i32) -> String {
        format!("advertised-{}", self.pod(ordinal))
    }

    /// Name of broker `ordinal`'s pod.
    #[must_use]
    pub fn pod(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.stateful_set)
    }

    /// Name of broker `ordinal`'s data volume claim (claim template `data`).
    #[must_use]
    pub fn data_claim(&self, ordinal: i32) -> String {
        format!("data-{}-{ordinal}", self.stateful_set)
    }

    /// The ordinal of a pod of this cluster's StatefulSet, from its name.
    #[must_use]
    pub fn ordinal_of(&self, pod_name: &str) -> Option<i32> {
        pod_name
            .strip_prefix(&self.stateful_set)?
            .strip_prefix('-')?
            .parse()
            .ok()
    }
}

/// Labels selecting the broker pods of `cluster` (immutable once the StatefulSet exists).
#[must_use]
pub fn selector_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CLUSTER_LABEL.to_string(), cluster.to_string()),
        (COMPONENT_LABEL.to_string(), "broker".to_string()),
    ])
}

/// Labels of every owned object and of the broker pods.
#[must_use]
pub fn labels(cluster: &str, version: &str) -> BTreeMap<String, String> {
    let mut l = selector_labels(cluster);
    l.insert("app.kubernetes.io/name".into(), "eddy-broker".into());
    l.insert("app.kubernetes.io/instance".into(), cluster.to_string());
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        "eddy-operator".into(),
    );
    l.insert("app.kubernetes.io/version".into(), version.to_string());
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_round_trip_through_pod_names() {
        let n = Names::new("a-broker");
        for i in [0, 1, 17] {
            assert_eq!(n.ordinal_of(&n.pod(i)), Some(i));
        }
        assert_eq!(n.ordinal_of("a-broker-broker-x"), None);
        assert_eq!(n.ordinal_of("other-broker-0"), None);
    }
}
