//! Headless Service builder: governs the StatefulSet, giving each broker a stable DNS name
//! (`<pod>.<cluster>-brokers.<ns>.svc`) that exists before the broker is ready.
use k8s_openapi::api::core::v1::{Service, ServiceSpec};

use super::{BuildInput, bootstrap_service::service_ports, labels::selector_labels};

/// Builds the headless Service.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> Service {
    Service {
        metadata: input.meta(&input.names.headless_service),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(&input.names.cluster)),
            ports: Some(service_ports(input, true)),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PdbApi, fixtures::ClusterFixture};
    use super::*;

    #[test]
    fn headless_publishes_not_ready_pods_and_the_admin_port() {
        let fx = ClusterFixture::new("c", 1);
        let svc = build(&fx.input(PdbApi::V1));
        let spec = svc.spec.expect("spec");
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        let ports: Vec<i32> = spec.ports.expect("ports").iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![9092, 9600]);
    }
}
