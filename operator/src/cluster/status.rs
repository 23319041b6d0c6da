//! Status step of the KafkaCluster reconcile (pure): conditions, bootstrap addresses and broker
//! ids from the validation outcome and the observed broker pods.
use std::collections::BTreeMap;

use tracing::info;

use crate::cluster::build::Names;
use crate::cluster::build::external_services::{Exposure, external_address};
use crate::cluster::plan::Plan;
use crate::cluster::validate::{Severity, Validation};
use crate::cluster::{apply, roll, scale_down, storage, voters};
use crate::conditions::{condition, set_condition};
use crate::crd::{
    AdvertiseMode, ConditionStatus, KafkaCluster, KafkaClusterStatus, ListenerAddress,
    ListenerStatus, ListenerType, ScaleDownPhase, ScaleDownStatus, condition_type, find_condition,
    reason,
};

/// One broker pod as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerPod {
    /// Pod ordinal (the broker id).
    pub ordinal: i32,
    /// Pod IP once assigned.
    pub ip: Option<String>,
    /// Address of the pod's Node (`status.hostIP`): where its node ports are reached.
    pub host_ip: Option<String>,
    /// Readiness condition of the pod.
    pub ready: bool,
    /// Image the pod runs.
    pub image: Option<String>,
    /// Pod UID.
    pub uid: String,
    /// The pod's `controller-revision-hash` (StatefulSet revision it was created from).
    pub revision: Option<String>,
}

/// What happened in this reconcile, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Objects applied; `pods` observed.
    Applied,
    /// The spec was invalid; nothing applied.
    Invalid,
    /// Applying failed with this message.
    ApplyFailed(String),
    /// The pause annotation is set.
    Paused,
}

/// Computes the next status from the previous one.
#[must_use]
pub fn next_status(
    cluster: &KafkaCluster,
    validation: &Validation,
    pods: &[BrokerPod],
    outcome: &Outcome,
    now: &str,
) -> KafkaClusterStatus {
    let generation = cluster.metadata.generation;
    let mut status = cluster.status.clone().unwrap_or_default();
    let conds = &mut status.conditions;
    let spec = &cluster.spec;

    let paused = *outcome == Outcome::Paused;
    set_condition(
        conds,
        condition(
            condition_type::RECONCILIATION_PAUSED,
            if paused {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason::PAUSED,
            if paused {
                "annotation eddy.io/pause-reconciliation=true: owned objects are left as they are"
            } else {
                ""
            },
            generation,
        ),
        now,
    );
    if paused {
        return status;
    }

    let warnings: Vec<_> = validation.with_severity(Severity::Warning).collect();
    let (w_status, w_reason, w_message) = match warnings.first() {
        None => (ConditionStatus::False, reason::NO_WARNINGS, String::new()),
        Some(first) => (
            ConditionStatus::True,
            first.reason,
            warnings
                .iter()
                .map(|w| w.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    set_condition(
        conds,
        condition(
            condition_type::WARNING,
            w_status,
            w_reason,
            w_message,
            generation,
        ),
        now,
    );

    let ready_count = pods.iter().filter(|p| p.ready).count();
    let ready_count = i32::try_from(ready_count).unwrap_or(i32::MAX);
    let (ready, ready_reason, ready_message, reconciling) = match outcome {
        Outcome::Invalid => {
            let msg = validation
                .with_severity(Severity::Invalid)
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            (ConditionStatus::False, reason::INVALID_SPEC, msg, false)
        }
        Outcome::ApplyFailed(msg) => (
            ConditionStatus::False,
            reason::APPLY_FAILED,
            msg.clone(),
            true,
        ),
        Outcome::Applied if ready_count >= spec.brokers => (
            ConditionStatus::True,
            reason::READY,
            format!("{ready_count}/{} brokers ready", spec.brokers),
            false,
        ),
        Outcome::Applied | Outcome::Paused => (
            ConditionStatus::False,
            reason::BROKERS_STARTING,
            format!("{ready_count}/{} brokers ready", spec.brokers),
            true,
        ),
    };
    set_condition(
        conds,
        condition(
            condition_type::READY,
            ready,
            ready_reason,
            ready_message,
            generation,
        ),
        now,
    );
    set_condition(
        conds,
        condition(
            condition_type::RECONCILING,
            if reconciling {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            if reconciling {
                reason::APPLYING
            } else {
                reason::RECONCILED
            },
            "",
            generation,
        ),
        now,
    );

    if matches!(outcome, Outcome::Applied) {
        status.observed_generation = generation;
        status.ready_brokers = ready_count;
        status.storage_size = Some(validation.effective_storage.clone());
        let mut ids: Vec<i32> = pods.iter().map(|p| p.ordinal).collect();
        ids.sort_unstable();
        status.broker_ids = ids;
        status.listeners = listener_status(cluster, pods, &BTreeMap::new());
        let expected = spec.broker_image();
        status.current_version = (!pods.is_empty()
            && pods
                .iter()
                .all(|p| p.image.as_deref() == Some(expected.as_str())))
        .then(|| spec.version.clone())
        .or(status.current_version);
    } else if matches!(outcome, Outcome::Invalid) {
        status.observed_generation = generation;
    }
    status
}

/// What the status of one reconcile is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The cluster as reconciled (its status is the previous one).
    pub cluster: &'a KafkaCluster,
    /// The validate step's findings.
    pub validation: &'a Validation,
    /// The observed broker pods.
    pub pods: &'a [BrokerPod],
    /// What the apply step did.
    pub applied: &'a apply::Applied,
    /// The rolling restart's next step, once applied.
    pub roll: Option<&'a roll::plan::Plan>,
    /// The plan (voters).
    pub plan: &'a Plan,
    /// The scale-down step's outcome.
    pub scale_down: &'a scale_down::Outcome,
    /// The data claims as observed (before this reconcile's growth patches).
    pub claims: &'a [storage::ClaimView],
    /// Partitions the brokers report without a leader.
    pub offline: &'a [String],
    /// Now, RFC 3339.
    pub now: &'a str,
}

/// The next status of a reconcile that was not paused: conditions, the restart's progress and
/// the quorum (pure but for a log line).
#[must_use]
pub fn reconciled(r: &Report<'_>) -> KafkaClusterStatus {
    let applied = r.applied.outcome == Outcome::Applied;
    let pods = if applied { r.pods } else { &[] };
    let mut next = next_status(r.cluster, r.validation, pods, &r.applied.outcome, r.now);
    if let Some(roll) = r.roll {
        rolling_restart(&mut next, roll, r.cluster.metadata.generation, r.now);
    }
    if applied {
        next.storage_claims = storage::statuses(&r.validation.effective_storage, r.claims);
        partitions_offline(&mut next, r.offline, r.cluster.metadata.generation, r.now);
    }
    if applied && !r.applied.exposed.is_empty() {
        next.listeners = listener_status(r.cluster, pods, &r.applied.exposed);
        waiting_for_load_balancers(&mut next, r);
    }
    if applied && r.applied.certificates.is_some() {
        next.certificates.clone_from(&r.applied.certificates);
    }
    if applied {
        quorum(
            &mut next,
            r.cluster,
            r.plan.initial_voters.clone(),
            r.plan.desired_voters.clone(),
            r.applied.voters.as_ref(),
            r.now,
        );
    }
    if let Some(sd) = &r.scale_down.status {
        scale_down_status(&mut next, sd, r.cluster.metadata.generation, r.now);
    }
    next
}

/// Every broker ready is not Ready while partitions have no leader: clients of those
/// partitions get no service, and a status saying Ready would hide it. Pure.
pub fn partitions_offline(
    status: &mut KafkaClusterStatus,
    offline: &[String],
    generation: Option<i64>,
    now: &str,
) {
    if offline.is_empty() {
        return;
    }
    let ready = find_condition(&status.conditions, condition_type::READY)
        .is_some_and(|c| c.status == ConditionStatus::True);
    if !ready {
        return;
    }
    let shown: Vec<&str> = offline.iter().take(10).map(String::as_str).collect();
    let more = offline.len().saturating_sub(shown.len());
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::READY,
            ConditionStatus::False,
            reason::PARTITIONS_OFFLINE,
            format!(
                "every broker is ready but {} partitions have no leader: {}{}",
                offline.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            generation,
        ),
        now,
    );
}

/// Records the scale-down; while it runs, waits or is blocked, `Reconciling=True` says so
/// (reason `ScalingDown`, `RebalanceInProgress` or `ScaleDownBlocked`) — the Ready condition keeps saying whether the brokers
/// serve. Pure.
pub fn scale_down_status(
    status: &mut KafkaClusterStatus,
    sd: &ScaleDownStatus,
    generation: Option<i64>,
    now: &str,
) {
    status.scale_down = Some(sd.clone());
    let reason = match sd.phase {
        ScaleDownPhase::Done => return,
        ScaleDownPhase::Blocked => reason::SCALE_DOWN_BLOCKED,
        ScaleDownPhase::Waiting => reason::REBALANCE_IN_PROGRESS,
        _ => reason::SCALING_DOWN,
    };
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::RECONCILING,
            ConditionStatus::True,
            reason,
            sd.message.clone().unwrap_or_default(),
            generation,
        ),
        now,
    );
}

/// Writes the rolling restart's next step into the status (pure): `rollingRestart` and, while a
/// restart runs, the Reconciling condition with its progress.
pub fn rolling_restart(
    status: &mut KafkaClusterStatus,
    plan: &roll::plan::Plan,
    generation: Option<i64>,
    now: &str,
) {
    status.rolling_restart.clone_from(&plan.state);
    let (reason, message) = match &plan.action {
        roll::plan::Action::Wait { message, blocked } => (
            if *blocked {
                reason::RESTART_BLOCKED
            } else {
                reason::ROLLING_RESTART
            },
            message.clone(),
        ),
        roll::plan::Action::DeletePod { broker_id, .. } => (
            reason::ROLLING_RESTART,
            format!("restarting broker {broker_id}"),
        ),
        roll::plan::Action::Probe { broker_id, .. } => (
            reason::ROLLING_RESTART,
            format!("checking broker {broker_id}"),
        ),
        roll::plan::Action::Idle | roll::plan::Action::Finished { .. } => return,
    };
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::RECONCILING,
            ConditionStatus::True,
            reason,
            message,
            generation,
        ),
        now,
    );
}

/// Records the quorum in status; a voter change under way shows as `Reconciling=True` with
/// reason `QuorumResizing`. A broker without the voter-change API is logged once (when the
/// message first appears) and never fails the cluster. Pure but for that log line.
pub fn quorum(
    next: &mut KafkaClusterStatus,
    cluster: &KafkaCluster,
    initial_voters: Vec<i32>,
    desired_voters: Vec<i32>,
    sync: Option<&voters::Sync>,
    now: &str,
) {
    let previous = next.quorum.clone().unwrap_or_default();
    let message = match sync {
        Some(s) => s.message(&desired_voters),
        None => previous.message.clone(),
    };
    if message.is_some() && message != previous.message {
        info!(
            message = message.as_deref().unwrap_or_default(),
            "controller quorum"
        );
    }
    let view = sync.and_then(|s| s.view.as_ref());
    next.quorum = Some(crate::crd::QuorumStatus {
        initial_voters,
        voters: view.map(|v| v.voters.clone()).or(previous.voters),
        desired_voters: desired_voters.clone(),
        leader: view.and_then(|v| v.leader).or(previous.leader),
        message: message.clone(),
    });
    if let Some(voters::State::Pending(_)) = sync.map(|s| &s.state) {
        set_condition(
            &mut next.conditions,
            condition(
                condition_type::RECONCILING,
                ConditionStatus::True,
                reason::QUORUM_RESIZING,
                message.unwrap_or_default(),
                cluster.metadata.generation,
            ),
            now,
        );
    }
}

/// `Ready=False` (`WaitingForLoadBalancer`) while a `loadbalancer` listener's Service has no
/// address yet: its brokers cannot advertise one.
fn waiting_for_load_balancers(status: &mut KafkaClusterStatus, r: &Report<'_>) {
    let mut waiting: Vec<String> = Vec::new();
    let names = Names::new(&r.cluster.metadata.name.clone().unwrap_or_default());
    for l in r
        .cluster
        .spec
        .listeners
        .iter()
        .filter(|l| l.type_ == ListenerType::Loadbalancer)
    {
        let brokers = (0..r.cluster.spec.brokers).map(|o| names.node_port_service(o, &l.name));
        for service in std::iter::once(names.node_port_bootstrap(&l.name)).chain(brokers) {
            if r.applied
                .exposed
                .get(&service)
                .is_none_or(|e| e.ingress.is_none())
            {
                waiting.push(service);
            }
        }
    }
    if waiting.is_empty() {
        return;
    }
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::READY,
            ConditionStatus::False,
            reason::WAITING_FOR_LOAD_BALANCER,
            format!(
                "waiting for the load balancer address of Service {}",
                waiting.join(", ")
            ),
            r.cluster.metadata.generation,
        ),
        r.now,
    );
}

/// An external listener's addresses: each broker where its Service is reached (node ports: the
/// override or its Node's address and its node port; load balancers: the override or its
/// ingress and the listener port), bootstrap where the bootstrap Service is (node ports: the
/// first broker's host, as any Node serves every node port).
fn external_addresses(
    l: &crate::crd::ListenerSpec,
    names: &Names,
    pods: &[&BrokerPod],
    exposed: &BTreeMap<String, Exposure>,
) -> (Vec<ListenerAddress>, String) {
    let addresses: Vec<ListenerAddress> = pods
        .iter()
        .filter_map(|p| {
            let (host, port) = external_address(
                l,
                exposed.get(&names.node_port_service(p.ordinal, &l.name)),
                Some(p.ordinal),
                p.host_ip.as_deref(),
            )?;
            Some(ListenerAddress {
                broker_id: p.ordinal,
                host,
                port,
            })
        })
        .collect();
    let first_host = addresses.first().map(|a| a.host.as_str());
    let bootstrap = external_address(
        l,
        exposed.get(&names.node_port_bootstrap(&l.name)),
        None,
        first_host,
    )
    .map(|(host, port)| format!("{host}:{port}"))
    .unwrap_or_default();
    (addresses, bootstrap)
}

fn listener_status(
    cluster: &KafkaCluster,
    pods: &[BrokerPod],
    exposed: &BTreeMap<String, Exposure>,
) -> Vec<ListenerStatus> {
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let names = Names::new(&name);
    let mut sorted: Vec<&BrokerPod> = pods.iter().collect();
    sorted.sort_by_key(|p| p.ordinal);
    cluster
        .spec
        .listeners
        .iter()
        .filter_map(|l| {
            let (addresses, bootstrap_servers) = if l.type_ != ListenerType::Internal {
                external_addresses(l, &names, &sorted, exposed)
            } else {
                internal_addresses(l, &names, &namespace, &sorted)
            };
            // A listener is listed once clients can reach it (a pod IP, a node port, a load
            // balancer address): the API server refuses an empty (required) `bootstrapServers`,
            // which would fail the whole status write of a cluster whose pods have no IP yet.
            if bootstrap_servers.is_empty() {
                return None;
            }
            let protocol = l.security_protocol();
            Some(ListenerStatus {
                name: l.name.clone(),
                bootstrap_servers,
                addresses,
                type_: l.type_,
                tls: l.tls,
                authentication: l.authentication,
                security_protocol: Some(protocol),
                sasl_mechanisms: l
                    .authentication
                    .sasl_mechanisms()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                ca_secret: l.tls.then(|| names.cluster_ca_cert.clone()),
            })
        })
        .collect()
}

/// An internal listener's addresses: pod IPs or DNS names, bootstrap the same IPs or the
/// bootstrap Service.
fn internal_addresses(
    l: &crate::crd::ListenerSpec,
    names: &Names,
    namespace: &str,
    sorted: &[&BrokerPod],
) -> (Vec<ListenerAddress>, String) {
    let addresses: Vec<ListenerAddress> = sorted
        .iter()
        .filter_map(|p| {
            let host = match l.advertise {
                AdvertiseMode::PodIp => p.ip.clone()?,
                AdvertiseMode::Dns => format!(
                    "{}.{}.{namespace}.svc",
                    names.pod(p.ordinal),
                    names.headless_service
                ),
            };
            Some(ListenerAddress {
                broker_id: p.ordinal,
                host,
                port: l.port,
            })
        })
        .collect();
    let bootstrap_servers = match l.advertise {
        AdvertiseMode::PodIp => addresses
            .iter()
            .map(|a| format!("{}:{}", a.host, a.port))
            .collect::<Vec<_>>()
            .join(","),
        AdvertiseMode::Dns => {
            format!("{}.{namespace}.svc:{}", names.bootstrap_service, l.port)
        }
    };
    (addresses, bootstrap_servers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::fixtures::ClusterFixture;
    use crate::cluster::validate::{Observed, validate};
    use crate::crd::{RollingRestartStatus, RollingRestartTrigger, find_condition};

    fn pod(ordinal: i32, ready: bool) -> BrokerPod {
        BrokerPod {
            ordinal,
            ip: Some(format!("127.0.1.{}", ordinal + 1)),
            host_ip: Some("127.0.0.1".into()),
            ready,
            image: Some("eddy/broker:0.1.0".into()),
            uid: format!("uid-{ordinal}"),
            revision: Some("r1".into()),
        }
    }

    fn cond<'a>(s: &'a KafkaClusterStatus, t: &str) -> &'a crate::crd::Condition {
        find_condition(&s.conditions, t).expect("condition")
    }

    #[test]
    fn ready_when_every_broker_is_ready_with_bootstrap_addresses() {
        let fx = ClusterFixture::new("c", 2);
        let v = validate(&fx.0.spec, &Observed::default());
        let starting = next_status(
            &fx.0,
            &v,
            &[pod(0, true), pod(1, false)],
            &Outcome::Applied,
            "t",
        );
        assert_eq!(cond(&starting, "Ready").status, ConditionStatus::False);
        assert_eq!(cond(&starting, "Ready").reason, reason::BROKERS_STARTING);
        assert_eq!(cond(&starting, "Reconciling").status, ConditionStatus::True);

        let s = next_status(
            &fx.0,
            &v,
            &[pod(1, true), pod(0, true)],
            &Outcome::Applied,
            "t",
        );
        assert_eq!(cond(&s, "Ready").status, ConditionStatus::True);
        assert_eq!(
            s.listeners[0].bootstrap_servers,
            "127.0.1.1:9092,127.0.1.2:9092"
        );
        assert_eq!(s.broker_ids, vec![0, 1]);
        assert_eq!(s.current_version.as_deref(), Some("0.1.0"));
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(cond(&s, "Warning").reason, reason::NO_WARNINGS);
    }

    #[test]
    fn ready_brokers_with_offline_partitions_are_not_ready_but_still_serve() {
        let fx = ClusterFixture::new("c", 2);
        let v = validate(&fx.0.spec, &Observed::default());
        let pods = [pod(0, true), pod(1, true)];
        let mut s = next_status(&fx.0, &v, &pods, &Outcome::Applied, "t");
        partitions_offline(&mut s, &[], Some(1), "t");
        assert_eq!(cond(&s, "Ready").status, ConditionStatus::True);
        let offline: Vec<String> = (0..12).map(|p| format!("orders-{p}")).collect();
        partitions_offline(&mut s, &offline, Some(1), "t");
        let ready = cond(&s, "Ready");
        assert_eq!(ready.status, ConditionStatus::False);
        assert_eq!(ready.reason, reason::PARTITIONS_OFFLINE);
        assert!(
            ready
                .message
                .contains("12 partitions have no leader: orders-0")
                && ready.message.ends_with("and 2 more"),
            "{}",
            ready.message
        );
        // Topics and users are still managed: the brokers serve.
        assert!(crate::crd::brokers_serving(&s.conditions));
        // Brokers still starting stay BrokersStarting (offline partitions are expected then).
        let mut starting = next_status(&fx.0, &v, &[pod(0, true)], &Outcome::Applied, "t");
        partitions_offline(&mut starting, &offline, Some(1), "t");
        assert_eq!(cond(&starting, "Ready").reason, reason::BROKERS_STARTING);
        assert!(!crate::crd::brokers_serving(&starting.conditions));
    }

    #[test]
    fn a_node_port_listener_reports_node_addresses_and_node_ports() {
        let fx = ClusterFixture::new("c", 2).with(|s| {
            s.listeners = serde_json::from_value(serde_json::json!([
                {"name": "ext", "port": 9094, "type": "nodeport", "configuration": {"brokers": [
                    {"broker": 1, "advertisedHost": "kafka-1.example.com"}]}},
            ]))
            .expect("listeners");
        });
        let pods = [pod(0, true), pod(1, true)];
        let refs: Vec<&BrokerPod> = pods.iter().collect();
        let l = &fx.0.spec.listeners[0];
        let names = Names::new("c");
        let np = |p: i32| Exposure {
            node_port: Some(p),
            ingress: None,
        };
        let ports = BTreeMap::from([
            ("c-ext-bootstrap".to_string(), np(30010)),
            ("c-broker-0-ext".to_string(), np(30011)),
            ("c-broker-1-ext".to_string(), np(30012)),
        ]);
        let (addresses, bootstrap) = external_addresses(l, &names, &refs, &ports);
        assert_eq!(bootstrap, "127.0.0.1:30010");
        let got: Vec<(i32, &str, i32)> = addresses
            .iter()
            .map(|a| (a.broker_id, a.host.as_str(), a.port))
            .collect();
        assert_eq!(
            got,
            vec![(0, "127.0.0.1", 30011), (1, "kafka-1.example.com", 30012)]
        );
        // Before the Services have node ports nothing is claimed, and the listener is not
        // listed (an empty bootstrapServers would make the API server refuse the status).
        let (addresses, bootstrap) = external_addresses(l, &names, &refs, &BTreeMap::new());
        assert!(addresses.is_empty() && bootstrap.is_empty());
        assert!(listener_status(&fx.0, &pods, &BTreeMap::new()).is_empty());
        assert_eq!(listener_status(&fx.0, &pods, &ports).len(), 1);
    }

    #[test]
    fn listeners_report_their_security_and_the_ca_secret() {
        let fx = ClusterFixture::new("c", 1).with(|s| {
            s.listeners = serde_json::from_value(serde_json::json!([
                {"name": "plain", "port": 9092},
                {"name": "mtls", "port": 9093, "tls": true, "authentication": "tls"},
                {"name": "scram", "port": 9094, "tls": true, "authentication": "scram-sha-512"},
                {"name": "sasl", "port": 9096, "authentication": "scram-sha-256"},
            ]))
            .expect("listeners");
        });
        let v = validate(&fx.0.spec, &Observed::default());
        let s = next_status(&fx.0, &v, &[pod(0, true)], &Outcome::Applied, "t");
        #[allow(clippy::type_complexity)]
        let got: Vec<(
            &str,
            Option<crate::crd::SecurityProtocol>,
            Vec<String>,
            Option<&str>,
        )> = s
            .listeners
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.security_protocol,
                    l.sasl_mechanisms.clone(),
                    l.ca_secret.as_deref(),
                )
            })
            .collect();
        use crate::crd::SecurityProtocol as P;
        assert_eq!(
            got,
            vec![
                ("plain", Some(P::Plaintext), vec![], None),
                ("mtls", Some(P::Ssl), vec![], Some("c-cluster-ca-cert")),
                (
                    "scram",
                    Some(P::SaslSsl),
                    vec!["SCRAM-SHA-512".to_string(), "SCRAM-SHA-256".to_string()],
                    Some("c-cluster-ca-cert")
                ),
                (
                    "sasl",
                    Some(P::SaslPlaintext),
                    vec!["SCRAM-SHA-256".to_string(), "SCRAM-SHA-512".to_string()],
                    None
                ),
            ]
        );
        assert_eq!(s.listeners[1].bootstrap_servers, "127.0.1.1:9093");
        let json = serde_json::to_value(&s.listeners[2]).expect("json");
        assert_eq!(json["securityProtocol"], "SASL_SSL");
        assert_eq!(json["authentication"], "scram-sha-512");
        assert_eq!(json["type"], "internal");
    }

    #[test]
    fn invalid_spec_is_reported_with_its_reason() {
        let fx = ClusterFixture::new("c", 1).with(|s| {
            s.config.insert("bogus.key".into(), "1".into());
        });
        let v = validate(&fx.0.spec, &Observed::default());
        let s = next_status(&fx.0, &v, &[], &Outcome::Invalid, "t");
        let ready = cond(&s, "Ready");
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::False, reason::INVALID_SPEC)
        );
        assert!(ready.message.contains("bogus.key"));
    }

    #[test]
    fn pause_sets_only_the_paused_condition() {
        let fx = ClusterFixture::new("c", 1);
        let v = validate(&fx.0.spec, &Observed::default());
        let s = next_status(&fx.0, &v, &[], &Outcome::Paused, "t");
        assert_eq!(
            cond(&s, "ReconciliationPaused").status,
            ConditionStatus::True
        );
        assert!(find_condition(&s.conditions, "Ready").is_none());
    }

    #[test]
    fn progress_and_blocks_are_reported_in_reconciling() {
        let state = RollingRestartStatus {
            trigger: RollingRestartTrigger::ManualRestart,
            token: Some("t".into()),
            pending: vec![1],
            restarted: vec![],
            current: None,
            started_at: None,
        };
        let mut st = KafkaClusterStatus::default();
        let plan = roll::plan::Plan {
            state: Some(state.clone()),
            action: roll::plan::Action::Wait {
                message: "broker 0 is not safe to restart: x".into(),
                blocked: true,
            },
        };
        rolling_restart(&mut st, &plan, Some(2), "t");
        let c = find_condition(&st.conditions, condition_type::RECONCILING).expect("cond");
        assert_eq!(c.reason, reason::RESTART_BLOCKED);
        assert!(c.message.contains("not safe"));
        assert_eq!(st.rolling_restart, Some(state));
        let done = roll::plan::Plan {
            state: None,
            action: roll::plan::Action::Finished { token: None },
        };
        rolling_restart(&mut st, &done, Some(2), "t");
        assert_eq!(st.rolling_restart, None);
    }
}
