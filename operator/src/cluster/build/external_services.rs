//! External Service builder for `type: nodeport` and `type: loadbalancer` listeners: one
//! Service per broker selecting only that broker's pod (`statefulset.kubernetes.io/pod-name`),
//! so the broker can advertise an address of its own, plus a bootstrap Service over every
//! broker. Node ports and load balancer addresses are left to the API server and the cloud's
//! load balancer controller; `advertised_entries` turns what they assigned into what each broker
//! advertises (`<node address>:<node port>`, or `<ingress>:<listener port>`).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::stateful_set::broker_listener_name;
use super::{BuildInput, labels::selector_labels};
use crate::crd::{ListenerSpec, ListenerType};

/// Label on every pod of a StatefulSet naming the pod (set by the StatefulSet controller).
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// The spec's `nodeport` and `loadbalancer` listeners.
pub fn external_listeners<'a>(input: &BuildInput<'a>) -> Vec<&'a ListenerSpec> {
    let spec = input.spec;
    spec.listeners
        .iter()
        .filter(|l| l.type_ != ListenerType::Internal)
        .collect()
}

/// What the API server (node port) and the load balancer controller (ingress) assigned to one
/// external Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposure {
    /// `spec.ports[0].nodePort`.
    pub node_port: Option<i32>,
    /// `status.loadBalancer.ingress[0]`: its IP, else its hostname.
    pub ingress: Option<String>,
}

/// Where clients reach broker `ordinal` (or the bootstrap Service when `None`) on external
/// listener `l`: `(host, port)`, once known. `node_host` is the Node address of the broker
/// (node ports only).
#[must_use]
pub fn external_address(
    l: &ListenerSpec,
    exposure: Option<&Exposure>,
    ordinal: Option<i32>,
    node_host: Option<&str>,
) -> Option<(String, i32)> {
    let exposure = exposure?;
    let host_override = ordinal.and_then(|o| l.advertised_host(o));
    match l.type_ {
        ListenerType::Nodeport => Some((
            host_override.or(node_host)?.to_string(),
            exposure.node_port?,
        )),
        ListenerType::Loadbalancer => Some((
            host_override
                .map(str::to_string)
                .or_else(|| exposure.ingress.clone())?,
            l.port,
        )),
        ListenerType::Internal => None,
    }
}

/// How many brokers get a Service: every broker the StatefulSet may run.
fn broker_count(input: &BuildInput<'_>) -> i32 {
    input.spec.brokers.max(input.replicas.unwrap_or(0))
}

fn service_type(listener: &ListenerSpec) -> &'static str {
    if listener.type_ == ListenerType::Loadbalancer {
        "LoadBalancer"
    } else {
        "NodePort"
    }
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
            type_: Some(service_type(listener).to_string()),
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

/// Per-broker and bootstrap Services of every external listener.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> Vec<Service> {
    let mut out = Vec::new();
    for l in external_listeners(input) {
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

/// NodePort and LoadBalancer Services of the cluster (as listed by its label) that are no
/// longer desired: a broker removed by a scale-down, a listener no longer external. Their node
/// ports and load balancers are given back.
#[must_use]
pub fn stale<'a>(existing: &'a [Service], desired: &[Service]) -> Vec<&'a str> {
    existing
        .iter()
        .filter(|s| {
            matches!(
                s.spec.as_ref().and_then(|s| s.type_.as_deref()),
                Some("NodePort" | "LoadBalancer")
            )
        })
        .filter_map(|s| s.metadata.name.as_deref())
        .filter(|name| {
            !desired
                .iter()
                .any(|d| d.metadata.name.as_deref() == Some(*name))
        })
        .collect()
}

/// What was assigned to each external Service (by Service name), as the API server returned it.
#[must_use]
pub fn allocated(services: &[Service]) -> BTreeMap<String, Exposure> {
    services
        .iter()
        .filter_map(|s| {
            let node_port = s.spec.as_ref()?.ports.as_ref()?.first()?.node_port;
            let ingress = s
                .status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .and_then(|i| i.first())
                .and_then(|i| i.ip.clone().or_else(|| i.hostname.clone()));
            Some((s.metadata.name.clone()?, Exposure { node_port, ingress }))
        })
        .collect()
}

/// The external Services still waiting for their load balancer address.
#[must_use]
pub fn waiting_for_load_balancer(
    input: &BuildInput<'_>,
    exposed: &BTreeMap<String, Exposure>,
) -> Vec<String> {
    build(input)
        .into_iter()
        .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
        .filter_map(|s| s.metadata.name)
        .filter(|name| exposed.get(name).is_none_or(|e| e.ingress.is_none()))
        .collect()
}

/// Per broker (ConfigMap key `advertised-<pod>`), the `NAME://host:port` entries of its
/// external listeners: a node port listener's allocated node port with the `advertisedHost`
/// override or an empty host (the broker keeps `$(HOST_IP)`, its Node's address); a load
/// balancer listener's ingress address (or override) with the listener's port. A broker one of
/// whose addresses is not known yet gets no key: it does not start (a missing file is an error)
/// rather than advertise an unknown address.
#[must_use]
pub fn advertised_entries(
    input: &BuildInput<'_>,
    exposed: &BTreeMap<String, Exposure>,
) -> BTreeMap<String, String> {
    let listeners = external_listeners(input);
    if listeners.is_empty() {
        return BTreeMap::new();
    }
    (0..broker_count(input))
        .filter_map(|ordinal| {
            let entries: Option<Vec<String>> = listeners
                .iter()
                .map(|l| {
                    let exposure = exposed.get(&input.names.node_port_service(ordinal, &l.name));
                    // Node ports: an empty host keeps the broker's $(HOST_IP).
                    let (host, port) = external_address(l, exposure, Some(ordinal), Some(""))?;
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
    fn a_load_balancer_listener_waits_for_its_ingress_and_advertises_it() {
        let fx = ClusterFixture::new("c", 2).with(|s| {
            s.listeners[0].type_ = ListenerType::Loadbalancer;
        });
        let input = fx.input(PdbApi::V1);
        let services = build(&input);
        assert!(
            services.iter().all(|s| {
                s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
            })
        );
        let lb = |ingress: Option<&str>| Exposure {
            node_port: Some(30000),
            ingress: ingress.map(str::to_string),
        };
        let mut exposed = BTreeMap::from([
            ("c-plaintext-bootstrap".to_string(), lb(Some("203.0.113.9"))),
            ("c-broker-0-plaintext".to_string(), lb(Some("203.0.113.10"))),
            ("c-broker-1-plaintext".to_string(), lb(None)),
        ]);
        assert_eq!(
            waiting_for_load_balancer(&input, &exposed),
            vec!["c-broker-1-plaintext"]
        );
        let entries = advertised_entries(&input, &exposed);
        assert_eq!(
            entries.get("advertised-c-broker-0").map(String::as_str),
            Some("PLAINTEXT://203.0.113.10:9092\n")
        );
        assert!(!entries.contains_key("advertised-c-broker-1"));
        exposed.insert("c-broker-1-plaintext".into(), lb(Some("lb-1.example.com")));
        assert!(waiting_for_load_balancer(&input, &exposed).is_empty());
        assert_eq!(
            advertised_entries(&input, &exposed)
                .get("advertised-c-broker-1")
                .map(String::as_str),
            Some("PLAINTEXT://lb-1.example.com:9092\n")
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
        assert_eq!(stale(&internal, &[]).len(), 4, "only external Services");
    }

    #[test]
    fn advertised_entries_wait_for_every_node_port_of_a_broker() {
        let fx = fixture();
        let input = fx.input(PdbApi::V1);
        let np = |p: i32| Exposure {
            node_port: Some(p),
            ingress: None,
        };
        let mut ports = BTreeMap::from([("c-broker-1-external".to_string(), np(31001))]);
        let got = advertised_entries(&input, &ports);
        assert_eq!(
            got,
            BTreeMap::from([(
                "advertised-c-broker-1".to_string(),
                "EXTERNAL://kafka-1.example.com:31001\n".to_string()
            )]),
            "broker 0 has no port yet, so no file: it must not start"
        );
        ports.insert("c-broker-0-external".into(), np(31000));
        assert_eq!(
            advertised_entries(&input, &ports).get("advertised-c-broker-0"),
            Some(&"EXTERNAL://:31000\n".to_string())
        );
        let plain = ClusterFixture::new("c", 2);
        assert!(advertised_entries(&plain.input(PdbApi::V1), &ports).is_empty());
        assert!(build(&plain.input(PdbApi::V1)).is_empty());
    }
}
