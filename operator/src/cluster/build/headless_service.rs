//! Headless Service builder: governs the StatefulSet, giving each broker a stable DNS name
//! (`<pod>.<cluster>-brokers.<ns>.svc`) that exists before the broker is ready.
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::quorum::CONTROLLER_PORT;
use super::{BuildInput, bootstrap_service::service_ports, labels::selector_labels};

/// Listener and admin ports, plus the controller (Raft) port the brokers reach each other on.
fn ports(input: &BuildInput<'_>) -> Vec<ServicePort> {
    let mut ports = service_ports(input, true);
    ports.push(ServicePort {
        name: Some("controller".to_string()),
        port: CONTROLLER_PORT,
        target_port: Some(IntOrString::Int(CONTROLLER_PORT)),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    });
    ports
}

/// Builds the headless Service.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> Service {
    Service {
        metadata: input.meta(&input.names.headless_service),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(&input.names.cluster)),
            ports: Some(ports(input)),
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
    fn headless_publishes_not_ready_pods_the_admin_and_controller_ports() {
        let fx = ClusterFixture::new("c", 1);
        let svc = build(&fx.input(PdbApi::V1));
        let spec = svc.spec.expect("spec");
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        let ports: Vec<i32> = spec.ports.expect("ports").iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![9092, 9600, 9095]);
    }
}
