//! NodePort Service builder for `type: nodeport` listeners: one Service per broker selecting
//! only that broker's pod (`statefulset.kubernetes.io/pod-name`), so the broker can advertise
//! `<node address>:<its node port>`, plus a bootstrap Service over every broker. Node ports are
//! left to the API server to allocate; `advertised_entries` turns the allocated ones into what
//! each broker advertises.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::stateful_set::broker_listener_name;
use super::{BuildInput, labels::selector_labels};
use crate::crd::{ListenerSpec, ListenerType};

/// Label on every pod of a StatefulSet naming the pod (set by the StatefulSet controller).
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// The spec's `nodeport` listeners.
pub fn node_port_listeners<'a>(input: &BuildInput<'a>) -> Vec<&'a ListenerSpec> {
    let spec = input.spec;
    spec.listeners
        .iter()
        .filter(|l| l.type_ == ListenerType::Nodeport)
        .collect()
}

/// How many brokers get a Service: every broker the StatefulSet may run.
fn broker_count(input: &BuildInput<'_>) -> i32 {
    input.spec.brokers.max(input.replicas.unwrap_or(0))
}

fn service(
    input: &BuildInput<'_>,
    name: &str,
    listener: &ListenerSpec,
    selector: BTreeMap<String, String>,
) -> Service {
    Service {
        metadata: input.meta(name),
        spec: Some(ServiceSpec {
            type_: Some("NodePort".to_string()),
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some(listener.name.clone()),
                port: listener.port,
                target_port: Some(IntOrString::Int(listener.port)),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            // Clients connect before the broker is ready only to be refused; no need to publish
            // unready brokers.
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Per-broker and bootstrap NodePort Services of every `nodeport` listener.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> Vec<Service> {
    let mut out = Vec::new();
    for l in node_port_listeners(input) {
        out.push(service(
            input,
            &input.names.node_port_bootstrap(&l.name),
            l,
            selector_labels(&input.names.cluster),
        ));
        for ordinal in 0..broker_count(input) {
            let mut selector = selector_labels(&input.names.cluster);
            selector.insert(POD_NAME_LABEL.to_string(), input.names.pod(ordinal));
            out.push(service(
                input,
                &input.names.node_port_service(ordinal, &l.name),
                l,
                selector,
            ));
        }
    }
    out
}

/// NodePort Services of the cluster (as listed by its label) that are no longer desired: a
/// broker removed by a scale-down, a listener no longer `nodeport`. Their node ports go back to
/// the API server's pool.
#[must_use]
pub fn stale<'a>(existing: &'a [Service], desired: &[Service]) -> Vec<&'a str> {
    existing
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("NodePort"))
        .filter_map(|s| s.metadata.name.as_deref())
        .filter(|name| {
            !desired
                .iter()
                .any(|d| d.metadata.name.as_deref() == Some(*name))
        })
        .collect()
}

/// The node port the API server allocated to each Service (by Service name).
#[must_use]
pub fn allocated(services: &[Service]) -> BTreeMap<String, i32> {
    services
        .iter()
        .filter_map(|s| {
            let port = s.spec.as_ref()?.ports.as_ref()?.first()?.node_port?;
            Some((s.metadata.name.clone()?, port))
        })
        .collect()
}

/// Per broker (ConfigMap key `advertised-<pod>`), the `NAME://host:port` entries of its
/// `nodeport` listeners: the allocated node port and the `advertisedHost` override, or an empty
/// host (the broker keeps `$(HOST_IP)`, its Node's address). A broker whose Service has no
/// node port yet gets no key: it does not start (a missing file is an error) rather than
/// advertise an unknown port.
#[must_use]
pub fn advertised_entries(
    input: &BuildInput<'_>,
    node_ports: &BTreeMap<String, i32>,
) -> BTreeMap<String, String> {
    let listeners = node_port_listeners(input);
    if listeners.is_empty() {
        return BTreeMap::new();
    }
    (0..broker_count(input))
        .filter_map(|ordinal| {
            let entries: Option<Vec<String>> = listeners
                .iter()
                .map(|l| {
                    let port = node_ports.get(&input.names.node_port_service(ordinal, &l.name))?;
                    let host = l.advertised_host(ordinal).unwrap_or("");
                    Some(format!("{}://{host}:{port}", broker_listener_name(l)))
                })
                .collect();
            Some((
                input.names.advertised_key(ordinal),
                entries?.join("\n") + "\n",
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{PdbApi, fixtures::ClusterFixture};
    use super::*;
    use crate::crd::{BrokerListenerOverride, ListenerConfiguration};

    fn fixture() -> ClusterFixture {
        ClusterFixture::new("c", 2).with(|s| {
            s.listeners.push(ListenerSpec {
                name: "external".into(),
                port: 9094,
                type_: ListenerType::Nodeport,
                configuration: Some(ListenerConfiguration {
                    brokers: vec![BrokerListenerOverride {
                        broker: 1,
                        advertised_host: "kafka-1.example.com".into(),
                    }],
                }),
                ..ListenerSpec::default()
            });
        })
    }

    #[test]
    fn a_bootstrap_service_and_one_per_broker_selecting_its_pod() {
        let fx = fixture();
        let services = build(&fx.input(PdbApi::V1));
        let names: Vec<String> = services
            .iter()
            .map(|s| s.metadata.name.clone().expect("name"))
            .collect();
        assert_eq!(
            names,
            [
                "c-external-bootstrap",
                "c-broker-0-external",
                "c-broker-1-external"
            ]
        );
        let spec = services[2].spec.as_ref().expect("spec");
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        assert_eq!(
            spec.selector.as_ref().and_then(|s| s.get(POD_NAME_LABEL)),
            Some(&"c-broker-1".to_string())
        );
        let port = &spec.ports.as_ref().expect("ports")[0];
        assert_eq!((port.port, port.node_port), (9094, None));
        let bootstrap = services[0].spec.as_ref().expect("spec");
        assert!(
            !bootstrap
                .selector
                .as_ref()
                .expect("sel")
                .contains_key(POD_NAME_LABEL)
        );
    }

    #[test]
    fn services_of_removed_brokers_are_stale() {
        let three = ClusterFixture::new("c", 3).with(|s| {
            s.listeners[0].type_ = ListenerType::Nodeport;
        });
        let existing = build(&three.input(PdbApi::V1));
        let mut internal = existing.clone();
        internal.push(Service {
            metadata: kube::api::ObjectMeta {
                name: Some("c-bootstrap".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                ..ServiceSpec::default()
            }),
            status: None,
        });
        let two = ClusterFixture::new("c", 2).with(|s| {
            s.listeners[0].type_ = ListenerType::Nodeport;
        });
        let desired = build(&two.input(PdbApi::V1));
        assert_eq!(stale(&internal, &desired), vec!["c-broker-2-plaintext"]);
        assert_eq!(stale(&internal, &[]).len(), 4, "only NodePort Services");
    }

    #[test]
    fn advertised_entries_wait_for_every_node_port_of_a_broker() {
        let fx = fixture();
        let input = fx.input(PdbApi::V1);
        let mut ports = BTreeMap::from([("c-broker-1-external".to_string(), 31001)]);
        let got = advertised_entries(&input, &ports);
        assert_eq!(
            got,
            BTreeMap::from([(
                "advertised-c-broker-1".to_string(),
                "EXTERNAL://kafka-1.example.com:31001\n".to_string()
            )]),
            "broker 0 has no port yet, so no file: it must not start"
        );
        ports.insert("c-broker-0-external".into(), 31000);
        assert_eq!(
            advertised_entries(&input, &ports).get("advertised-c-broker-0"),
            Some(&"EXTERNAL://:31000\n".to_string())
        );
        let plain = ClusterFixture::new("c", 2);
        assert!(advertised_entries(&plain.input(PdbApi::V1), &ports).is_empty());
        assert!(build(&plain.input(PdbApi::V1)).is_empty());
    }
}
