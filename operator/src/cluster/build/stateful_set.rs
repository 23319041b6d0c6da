//! StatefulSet builder: the brokers. `updateStrategy: OnDelete` so the operator, not Kubernetes,
//! decides when a broker restarts; one claim template per broker; probes on the admin HTTP port.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::BuildInput;
use super::config_map::CONFIG_FILE;
use super::labels::selector_labels;
use super::quorum::{CONTROLLER_PORT, controller_quorum_voters, dns_voters};
use crate::cluster::security::{self, broker_listeners};
use crate::cluster::validate::ADMIN_PORT;
use crate::crd::{AdvertiseMode, ListenerSpec, ListenerType, ResourceList};

/// Where the data volume is mounted; the broker's data directory is `data/` below it.
pub const DATA_MOUNT: &str = "/var/lib/eddy";
/// Where the ConfigMap is mounted.
pub const CONFIG_MOUNT: &str = "/etc/eddy";
/// Pod-template annotation carrying a hash of server.properties: a changed hash marks pods to
/// restart (the operator decides when; the StatefulSet never restarts pods by itself).
pub const CONFIG_HASH_ANNOTATION: &str = "eddy.io/config-hash";
/// Pod label carrying the rack topology key when rack awareness is on.
pub const RACK_KEY_LABEL: &str = "eddy.io/rack-topology-key";
/// Non-root user of the broker container.
const BROKER_UID: i64 = 65532;

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// The broker's name for a listener: upper-case, `-` → `_` (`plain-text` → `PLAIN_TEXT`).
#[must_use]
pub fn broker_listener_name(listener: &ListenerSpec) -> String {
    listener.name.to_uppercase().replace('-', "_")
}

/// `NAME://host:port` list the broker binds, with `$(POD_IP)` expanded by the kubelet.
fn bind_listeners(listeners: &[ListenerSpec]) -> String {
    listeners
        .iter()
        .map(|l| format!("{}://$(POD_IP):{}", broker_listener_name(l), l.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// `NAME://host:port` list the broker advertises to clients.
fn advertised_listeners(input: &BuildInput<'_>) -> String {
    broker_listeners(input.spec)
        .iter()
        .map(|l| {
            // An external listener: the Node's address, with the port (and the host of an
            // override or a load balancer) from the per-broker advertised file the operator
            // writes (`external_services`).
            let host = match l.advertise {
                _ if l.type_ != ListenerType::Internal => "$(HOST_IP)".to_string(),
                AdvertiseMode::PodIp => "$(POD_IP)".to_string(),
                AdvertiseMode::Dns => format!(
                    "$(POD_NAME).{}.{}.svc",
                    input.names.headless_service, input.namespace
                ),
            };
            format!("{}://{host}:{}", broker_listener_name(l), l.port)
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn quantities(list: Option<&ResourceList>) -> Option<BTreeMap<String, Quantity>> {
    let list = list?;
    let map: BTreeMap<String, Quantity> = [("cpu", &list.cpu), ("memory", &list.memory)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), Quantity(v.clone()))))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("admin".to_string()),
            scheme: Some("HTTP".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(3),
        ..Probe::default()
    }
}

fn broker_container(input: &BuildInput<'_>) -> Container {
    let spec = input.spec;
    let listeners = broker_listeners(spec);
    let mut ports: Vec<ContainerPort> = listeners
        .iter()
        .map(|l| ContainerPort {
            name: Some(l.name.clone()),
            container_port: l.port,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        })
        .collect();
    ports.push(ContainerPort {
        name: Some("admin".to_string()),
        container_port: ADMIN_PORT,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    });
    ports.push(ContainerPort {
        name: Some("controller".to_string()),
        container_port: CONTROLLER_PORT,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    });
    let mut env = vec![
        env_field("POD_IP", "status.podIP"),
        env_field("POD_NAME", "metadata.name"),
        env_field("POD_NAMESPACE", "metadata.namespace"),
        // Broker id = pod ordinal (`<cluster>-broker-2` → 2): stable across restarts and
        // rescheduling, and what `status.brokerIds` reports.
        env("EDDY_NODE_ID_FROM_NAME", "$(POD_NAME)"),
        env("EDDY_DATA_DIR", format!("{DATA_MOUNT}/data")),
        env("EDDY_CONFIG", format!("{CONFIG_MOUNT}/{CONFIG_FILE}")),
        env("EDDY_LISTENERS", bind_listeners(&listeners)),
        env("EDDY_ADVERTISED_LISTENERS", advertised_listeners(input)),
        env("EDDY_ADMIN_ADDR", format!("$(POD_IP):{ADMIN_PORT}")),
        // Cluster mode: every broker knows the voters by their stable DNS names; a voter's
        // controller listens on its pod IP (a name would not bind after an IP change).
        env(
            "EDDY_CONTROLLER_QUORUM_VOTERS",
            controller_quorum_voters(
                &dns_voters(&input.names, &input.namespace, input.quorum_voters),
                CONTROLLER_PORT,
            ),
        ),
        env(
            "EDDY_CONTROLLER_LISTENER",
            format!("$(POD_IP):{CONTROLLER_PORT}"),
        ),
    ];
    // Only with an external listener: a template change on every cluster would restart every
    // broker when the operator is upgraded.
    if listeners.iter().any(|l| l.type_ != ListenerType::Internal) {
        // Before the advertised listeners that refer to it (the kubelet expands in order).
        let at = env
            .iter()
            .position(|e| e.name == "EDDY_ADVERTISED_LISTENERS")
            .unwrap_or(env.len());
        env.insert(at, env_field("HOST_IP", "status.hostIP"));
        env.push(self::env(
            "EDDY_ADVERTISED_LISTENERS_FILE",
            format!("{CONFIG_MOUNT}/advertised-$(POD_NAME)"),
        ));
    }
    let mut mounts = vec![
        VolumeMount {
            name: "data".to_string(),
            mount_path: DATA_MOUNT.to_string(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "config".to_string(),
            mount_path: CONFIG_MOUNT.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ];
    if security::is_secure(spec) {
        // Passwords come from the internal-users Secret; the args refer to them as $(VAR).
        let users = &input.names.internal_users;
        env.push(env_secret(
            security::OPERATOR_PASSWORD_ENV,
            users,
            security::OPERATOR_PASSWORD_KEY,
        ));
        env.push(env_secret(
            security::BROKER_PASSWORD_ENV,
            users,
            security::BROKER_PASSWORD_KEY,
        ));
        for (volume, path) in secret_volumes(input) {
            mounts.push(VolumeMount {
                name: volume.name,
                mount_path: path.to_string(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
        }
    }
    let args = security::broker_args(spec);
    Container {
        name: "broker".to_string(),
        image: Some(spec.broker_image()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        env: Some(env),
        args: (!args.is_empty()).then_some(args),
        ports: Some(ports),
        startup_probe: Some(http_probe("/healthz", 2, 150)),
        liveness_probe: Some(http_probe("/healthz", 10, 6)),
        readiness_probe: Some(http_probe("/readyz", 2, 3)),
        resources: spec.resources.as_ref().map(|r| ResourceRequirements {
            requests: quantities(r.requests.as_ref()),
            limits: quantities(r.limits.as_ref()),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// The Secret volumes of a secure cluster's brokers and where each is mounted: broker
/// certificates, the cluster CA bundle and the clients CA bundle. Rotated content reaches the
/// running brokers through the kubelet's volume refresh and the brokers' file reload.
fn secret_volumes(input: &BuildInput<'_>) -> Vec<(Volume, &'static str)> {
    let names = &input.names;
    [
        (
            "broker-certs",
            &names.broker_certs,
            security::BROKER_CERTS_MOUNT,
        ),
        (
            "cluster-ca",
            &names.cluster_ca_cert,
            security::CLUSTER_CA_MOUNT,
        ),
        (
            "clients-ca",
            &names.clients_ca_cert,
            security::CLIENTS_CA_MOUNT,
        ),
    ]
    .into_iter()
    .map(|(volume, secret, path)| {
        (
            Volume {
                name: volume.to_string(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.clone()),
                    default_mode: Some(0o440),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            path,
        )
    })
    .collect()
}

fn placement(input: &BuildInput<'_>) -> (Affinity, Vec<TopologySpreadConstraint>) {
    let selector = LabelSelector {
        match_labels: Some(selector_labels(&input.names.cluster)),
        match_expressions: None,
    };
    // Preferred, not required: a small cluster (or the single-node local environment) must
    // still be able to run every broker.
    let affinity = Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(selector.clone()),
                        topology_key: "kubernetes.io/hostname".to_string(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    };
    let topology_key = input
        .spec
        .rack
        .as_ref()
        .map_or("kubernetes.io/hostname", |r| r.topology_key.as_str());
    let spread = vec![TopologySpreadConstraint {
        max_skew: 1,
        topology_key: topology_key.to_string(),
        when_unsatisfiable: "ScheduleAnyway".to_string(),
        label_selector: Some(selector),
        ..TopologySpreadConstraint::default()
    }];
    (affinity, spread)
}

/// Hex CRC-32C of the rendered properties: stable across Rust versions and operator restarts.
#[must_use]
pub fn config_hash(properties: &str) -> String {
    format!("{:08x}", crc32c::crc32c(properties.as_bytes()))
}

fn volumes(input: &BuildInput<'_>) -> Vec<Volume> {
    let mut volumes = vec![Volume {
        name: "config".to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: input.names.config_map.clone(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    if security::is_secure(input.spec) {
        volumes.extend(secret_volumes(input).into_iter().map(|(v, _)| v));
    }
    volumes
}

/// Builds the broker StatefulSet.
#[must_use]
pub fn build(input: &BuildInput<'_>, properties: &str) -> StatefulSet {
    let spec = input.spec;
    let mut pod_labels = input.labels();
    if let Some(rack) = &spec.rack {
        // Label values cannot hold `/`: keep the key's last segment (`zone` for
        // `topology.kubernetes.io/zone`).
        let short = rack.topology_key.rsplit('/').next().unwrap_or_default();
        pod_labels.insert(RACK_KEY_LABEL.to_string(), short.to_string());
    }
    let (affinity, spread) = placement(input);
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_string()),
            labels: Some(selector_labels(&input.names.cluster)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            storage_class_name: spec.storage.class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(input.storage_size.clone()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    };
    StatefulSet {
        metadata: input.meta(&input.names.stateful_set),
        spec: StatefulSetSpec {
            replicas: Some(input.replicas.unwrap_or(spec.brokers)),
            service_name: Some(input.names.headless_service.clone()),
            pod_management_policy: Some("Parallel".to_string()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_string()),
                rolling_update: None,
            }),
            selector: LabelSelector {
                match_labels: Some(selector_labels(&input.names.cluster)),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_string(),
                        config_hash(properties),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(input.names.service_account.clone()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(60),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(BROKER_UID),
                        run_as_group: Some(BROKER_UID),
                        fs_group: Some(BROKER_UID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    affinity: Some(affinity),
                    topology_spread_constraints: Some(spread),
                    containers: vec![broker_container(input)],
                    volumes: Some(volumes(input)),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PdbApi, fixtures::ClusterFixture};
    use super::*;
    use crate::crd::{RackSpec, ResourcesSpec};

    fn container(sts: &StatefulSet) -> Container {
        sts.spec.template.spec.as_ref().expect("pod").containers[0].clone()
    }

    fn env_value(c: &Container, name: &str) -> Option<String> {
        c.env
            .as_ref()?
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    }

    #[test]
    fn brokers_roll_on_delete_only_with_a_claim_per_broker() {
        let fx = ClusterFixture::new("c", 3).with(|s| {
            s.storage.class = Some("fast".into());
        });
        let sts = build(&fx.input(PdbApi::V1), "");
        let spec = sts.spec;
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(spec.service_name.as_deref(), Some("c-brokers"));
        assert_eq!(
            spec.update_strategy.and_then(|u| u.type_).as_deref(),
            Some("OnDelete")
        );
        let claims = spec.volume_claim_templates.expect("claims");
        let claim = claims[0].spec.as_ref().expect("claim spec");
        assert_eq!(claim.storage_class_name.as_deref(), Some("fast"));
        let size = &claim
            .resources
            .as_ref()
            .and_then(|r| r.requests.clone())
            .expect("req")["storage"];
        assert_eq!(size.0, "1Gi");
    }

    #[test]
    fn listeners_bind_and_advertise_the_pod_address() {
        let fx = ClusterFixture::new("c", 1);
        let c = container(&build(&fx.input(PdbApi::V1), ""));
        assert_eq!(
            env_value(&c, "EDDY_LISTENERS").as_deref(),
            Some("PLAINTEXT://$(POD_IP):9092")
        );
        assert_eq!(
            env_value(&c, "EDDY_ADVERTISED_LISTENERS").as_deref(),
            Some("PLAINTEXT://$(POD_IP):9092")
        );
        assert_eq!(
            env_value(&c, "EDDY_ADMIN_ADDR").as_deref(),
            Some("$(POD_IP):9600")
        );
        assert_eq!(
            env_value(&c, "EDDY_CONFIG").as_deref(),
            Some("/etc/eddy/server.properties")
        );
        // POD_IP and POD_NAME must be defined before the variables that reference them.
        assert_eq!(
            env_value(&c, "EDDY_NODE_ID_FROM_NAME").as_deref(),
            Some("$(POD_NAME)")
        );
        let names: Vec<String> = c.env.expect("env").into_iter().map(|e| e.name).collect();
        assert_eq!(names[..2], ["POD_IP", "POD_NAME"]);
    }

    #[test]
    fn an_external_listener_advertises_the_node_address_and_reads_its_file() {
        let internal = container(&build(&ClusterFixture::new("c", 1).input(PdbApi::V1), ""));
        let names = |c: &Container| -> Vec<String> {
            c.env.iter().flatten().map(|e| e.name.clone()).collect()
        };
        assert!(
            !names(&internal).iter().any(|n| n == "HOST_IP"),
            "an unchanged template for internal-only clusters"
        );
        let fx = ClusterFixture::new("c", 1).with(|s| {
            s.listeners[0].type_ = ListenerType::Nodeport;
        });
        let c = container(&build(&fx.input(PdbApi::V1), ""));
        assert_eq!(
            env_value(&c, "EDDY_ADVERTISED_LISTENERS").as_deref(),
            Some("PLAINTEXT://$(HOST_IP):9092")
        );
        assert_eq!(
            env_value(&c, "EDDY_ADVERTISED_LISTENERS_FILE").as_deref(),
            Some("/etc/eddy/advertised-$(POD_NAME)")
        );
        let n = names(&c);
        let host = n.iter().position(|x| x == "HOST_IP").expect("HOST_IP");
        let adv = n
            .iter()
            .position(|x| x == "EDDY_ADVERTISED_LISTENERS")
            .expect("advertised");
        assert!(host < adv, "defined before it is referred to: {n:?}");
    }

    #[test]
    fn brokers_run_in_cluster_mode_with_the_initial_voters_by_dns() {
        let fx = ClusterFixture::new("c", 5);
        let mut input = fx.input(PdbApi::V1);
        assert_eq!(input.quorum_voters, 3, "min(N, 3)");
        let c = container(&build(&input, ""));
        assert_eq!(
            env_value(&c, "EDDY_CONTROLLER_QUORUM_VOTERS").as_deref(),
            Some(
                "0@c-broker-0.c-brokers.kafka.svc:9095,1@c-broker-1.c-brokers.kafka.svc:9095,\
                 2@c-broker-2.c-brokers.kafka.svc:9095"
            )
        );
        assert_eq!(
            env_value(&c, "EDDY_CONTROLLER_LISTENER").as_deref(),
            Some("$(POD_IP):9095")
        );
        assert!(
            c.ports
                .expect("ports")
                .iter()
                .any(|p| p.container_port == 9095 && p.name.as_deref() == Some("controller"))
        );
        // A cluster created with one broker keeps its single voter in the template when it grows.
        input.quorum_voters = 1;
        let c = container(&build(&input, ""));
        assert_eq!(
            env_value(&c, "EDDY_CONTROLLER_QUORUM_VOTERS").as_deref(),
            Some("0@c-broker-0.c-brokers.kafka.svc:9095")
        );
    }

    #[test]
    fn dns_advertising_uses_the_headless_service() {
        let fx =
            ClusterFixture::new("c", 1).with(|s| s.listeners[0].advertise = AdvertiseMode::Dns);
        let c = container(&build(&fx.input(PdbApi::V1), ""));
        assert_eq!(
            env_value(&c, "EDDY_ADVERTISED_LISTENERS").as_deref(),
            Some("PLAINTEXT://$(POD_NAME).c-brokers.kafka.svc:9092")
        );
    }

    #[test]
    fn probes_use_the_admin_port() {
        let fx = ClusterFixture::new("c", 1);
        let c = container(&build(&fx.input(PdbApi::V1), ""));
        let path = |p: Option<Probe>| p.and_then(|p| p.http_get).and_then(|h| h.path);
        assert_eq!(path(c.readiness_probe.clone()).as_deref(), Some("/readyz"));
        assert_eq!(path(c.liveness_probe.clone()).as_deref(), Some("/healthz"));
        let port = c.readiness_probe.and_then(|p| p.http_get).map(|h| h.port);
        assert_eq!(port, Some(IntOrString::String("admin".into())));
        assert!(
            c.ports
                .expect("ports")
                .iter()
                .any(|p| p.container_port == 9600)
        );
    }

    #[test]
    fn config_change_changes_the_template_hash_only() {
        let fx = ClusterFixture::new("c", 1);
        let a = build(&fx.input(PdbApi::V1), "num.partitions=1\n");
        let b = build(&fx.input(PdbApi::V1), "num.partitions=2\n");
        let hash = |s: &StatefulSet| {
            s.spec
                .template
                .metadata
                .clone()
                .and_then(|m| m.annotations)
                .and_then(|a| a.get(CONFIG_HASH_ANNOTATION).cloned())
        };
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(
            hash(&a),
            hash(&build(&fx.input(PdbApi::V1), "num.partitions=1\n"))
        );
    }

    #[test]
    fn rack_awareness_spreads_over_the_topology_key_and_labels_pods() {
        let fx = ClusterFixture::new("c", 3).with(|s| {
            s.rack = Some(RackSpec {
                topology_key: "topology.kubernetes.io/zone".into(),
            });
            s.resources = Some(ResourcesSpec {
                requests: Some(ResourceList {
                    cpu: Some("500m".into()),
                    memory: None,
                }),
                limits: None,
            });
        });
        let sts = build(&fx.input(PdbApi::V1), "");
        let spec = sts.spec;
        let pod = spec.template.spec.expect("pod");
        let spread = pod.topology_spread_constraints.expect("spread");
        assert_eq!(spread[0].topology_key, "topology.kubernetes.io/zone");
        let labels = spec
            .template
            .metadata
            .and_then(|m| m.labels)
            .expect("labels");
        assert_eq!(labels.get(RACK_KEY_LABEL).map(String::as_str), Some("zone"));
        let req = pod.containers[0]
            .resources
            .clone()
            .and_then(|r| r.requests)
            .expect("req");
        assert_eq!(req["cpu"].0, "500m");
        assert!(!req.contains_key("memory"));
    }

    #[test]
    fn a_plaintext_cluster_has_no_secret_volumes_args_or_replication_listener() {
        let fx = ClusterFixture::new("c", 3);
        let sts = build(&fx.input(PdbApi::V1), "");
        let pod = sts.spec.template.spec.expect("pod");
        assert_eq!(pod.volumes.expect("volumes").len(), 1);
        let c = &pod.containers[0];
        assert!(c.args.is_none());
        assert!(c.env.as_ref().expect("env").iter().all(|e| {
            e.value_from
                .as_ref()
                .is_none_or(|v| v.secret_key_ref.is_none())
        }));
    }

    #[test]
    fn a_secure_cluster_mounts_its_secrets_and_adds_the_replication_listener() {
        let fx = ClusterFixture::new("c", 3).with(|s| {
            s.listeners[0].tls = true;
            s.listeners[0].authentication = crate::crd::AuthenticationType::ScramSha512;
        });
        let sts = build(&fx.input(PdbApi::V1), "");
        let pod = sts.spec.template.spec.expect("pod");
        let secrets: Vec<String> = pod
            .volumes
            .expect("volumes")
            .iter()
            .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
            .collect();
        assert_eq!(
            secrets,
            ["c-broker-certs", "c-cluster-ca-cert", "c-clients-ca-cert"]
        );
        let c = &pod.containers[0];
        assert_eq!(
            env_value(c, "EDDY_LISTENERS").as_deref(),
            Some("REPLICATION://$(POD_IP):9091,PLAINTEXT://$(POD_IP):9092")
        );
        assert_eq!(
            env_value(c, "EDDY_ADVERTISED_LISTENERS").as_deref(),
            Some("REPLICATION://$(POD_NAME).c-brokers.kafka.svc:9091,PLAINTEXT://$(POD_IP):9092")
        );
        let from_secret: Vec<(String, String)> = c
            .env
            .as_ref()
            .expect("env")
            .iter()
            .filter_map(|e| {
                let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
                Some((r.name.clone(), r.key.clone()))
            })
            .collect();
        assert_eq!(
            from_secret,
            [
                (
                    "c-internal-users".to_string(),
                    "operator-password".to_string()
                ),
                (
                    "c-internal-users".to_string(),
                    "broker-password".to_string()
                )
            ]
        );
        // The password env vars come after POD_NAME and before nothing that needs them: args
        // are expanded against the whole environment.
        let args = c.args.clone().expect("args");
        assert!(args.iter().any(|a| a.contains("$(EDDY_BROKER_PASSWORD)")));
        let mounts: Vec<&str> = c
            .volume_mounts
            .as_ref()
            .expect("mounts")
            .iter()
            .map(|m| m.mount_path.as_str())
            .collect();
        assert!(mounts.contains(&"/etc/eddy-tls/broker"));
        assert!(
            c.ports
                .as_ref()
                .expect("ports")
                .iter()
                .any(|p| p.container_port == 9091 && p.name.as_deref() == Some("replication"))
        );
    }

    #[test]
    fn pods_run_restricted() {
        let fx = ClusterFixture::new("c", 1);
        let sts = build(&fx.input(PdbApi::V1), "");
        let pod = sts.spec.template.spec.expect("pod");
        assert_eq!(pod.automount_service_account_token, Some(false));
        let sc = pod.containers[0].security_context.clone().expect("sc");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string()])
        );
    }
}
