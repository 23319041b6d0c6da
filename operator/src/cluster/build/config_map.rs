//! ConfigMap builder: the broker's `server.properties`, rendered from `spec.config` and, for a
//! secure cluster, the listener security settings (never a secret: passwords and per-pod paths
//! are container arguments).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::BuildInput;

/// File name of the broker config inside the ConfigMap and its mount.
pub const CONFIG_FILE: &str = "server.properties";

/// Renders `config` as a properties file, sorted by key (stable, so its hash only changes with
/// the content).
#[must_use]
pub fn server_properties(config: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "# Rendered by eddy-operator from KafkaCluster spec.config; edit the KafkaCluster, not this.\n",
    );
    for (k, v) in config {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    out
}

/// Builds the broker ConfigMap.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> ConfigMap {
    let mut config = input.spec.config.clone();
    config.extend(crate::cluster::security::broker_settings(input.spec));
    ConfigMap {
        metadata: input.meta(&input.names.config_map),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.to_string(),
            server_properties(&config),
        )])),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PdbApi, fixtures::ClusterFixture};
    use super::*;

    #[test]
    fn properties_are_sorted_key_value_lines() {
        let fx = ClusterFixture::new("c", 1).with(|s| {
            s.config.insert("num.partitions".into(), "3".into());
            s.config.insert("log.retention.ms".into(), "60000".into());
        });
        let cm = build(&fx.input(PdbApi::V1));
        let text = cm.data.expect("data").remove(CONFIG_FILE).expect("file");
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, vec!["log.retention.ms=60000", "num.partitions=3"]);
    }

    #[test]
    fn a_secure_cluster_renders_its_security_settings() {
        let fx = ClusterFixture::new("c", 3).with(|s| {
            s.listeners[0].tls = true;
            s.limits = Some(crate::crd::PlanLimits {
                max_connections: Some(50),
                ..Default::default()
            });
        });
        let cm = build(&fx.input(PdbApi::V1));
        let text = cm.data.expect("data").remove(CONFIG_FILE).expect("file");
        assert!(
            text.contains(
                "listener.security.protocol.map=REPLICATION:SASL_SSL,PLAINTEXT:SSL,CONTROLLER:SSL\n"
            ),
            "{text}"
        );
        assert!(text.contains("max.connections=50\n"));
        assert!(!text.contains("password"));
    }
}
