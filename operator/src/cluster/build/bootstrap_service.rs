//! Bootstrap Service builder: one ClusterIP address over every ready broker, per listener port.
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildInput, labels::selector_labels};
use crate::cluster::validate::ADMIN_PORT;

/// One Service port per listener, plus the admin port when `with_admin`.
#[must_use]
pub fn service_ports(input: &BuildInput<'_>, with_admin: bool) -> Vec<ServicePort> {
    // A secure cluster's replication listener too: the operator's admin connections use it.
    let mut ports: Vec<ServicePort> = crate::cluster::security::broker_listeners(input.spec)
        .iter()
        .map(|l| ServicePort {
            name: Some(l.name.clone()),
            port: l.port,
            target_port: Some(IntOrString::Int(l.port)),
            protocol: Some("TCP".to_string()),
            ..ServicePort::default()
        })
        .collect();
    if with_admin {
        ports.push(ServicePort {
            name: Some("admin".to_string()),
            port: ADMIN_PORT,
            target_port: Some(IntOrString::Int(ADMIN_PORT)),
            protocol: Some("TCP".to_string()),
            ..ServicePort::default()
        });
    }
    ports
}

/// Builds the bootstrap Service.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> Service {
    Service {
        metadata: input.meta(&input.names.bootstrap_service),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(selector_labels(&input.names.cluster)),
            ports: Some(service_ports(input, false)),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PdbApi, fixtures::ClusterFixture};
    use super::*;
    use crate::crd::ListenerSpec;

    #[test]
    fn one_port_per_listener_without_admin() {
        let fx = ClusterFixture::new("c", 1).with(|s| {
            s.listeners.push(ListenerSpec {
                name: "replication".into(),
                port: 9091,
                ..ListenerSpec::default()
            });
        });
        let svc = build(&fx.input(PdbApi::V1));
        let spec = svc.spec.expect("spec");
        let ports: Vec<(Option<String>, i32)> = spec
            .ports
            .expect("ports")
            .into_iter()
            .map(|p| (p.name, p.port))
            .collect();
        assert_eq!(
            ports,
            vec![
                (Some("plaintext".into()), 9092),
                (Some("replication".into()), 9091)
            ]
        );
        assert_eq!(spec.selector.expect("selector").len(), 2);
    }
}
