//! Pod status (pure): turns the agent's view of a pod's processes into a Kubernetes `PodStatus`.
//!
//! Phase, the four standard conditions and container statuses are derived here and nowhere else,
//! so what `kubectl`, the endpoints controller and the operator see follows one set of rules.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A finished run of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub container_id: String,
}

/// What one container is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Timestamp,
        container_id: String,
        /// The startup probe passed (or there is none).
        started: bool,
        ready: bool,
    },
    Terminated(Terminated),
}

/// The agent's view of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub phase: Phase,
    pub last: Option<Terminated>,
    pub restart_count: i32,
    /// Will be started again (restart policy allows it and the pod is not terminating).
    pub will_restart: bool,
}

/// The agent's view of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub host_ip: Ipv4Addr,
    pub pod_ip: Option<Ipv4Addr>,
    pub start_time: Timestamp,
    pub init: Vec<ContainerView>,
    pub containers: Vec<ContainerView>,
    /// All init containers completed.
    pub initialized: bool,
    /// Pod-level failure that keeps it from running (phase Failed).
    pub failed: Option<(String, String)>,
}

/// Remembers when each condition last changed, so unchanged conditions keep their timestamps.
#[derive(Debug, Default, Clone)]
pub struct Transitions(BTreeMap<String, (String, Timestamp)>);

impl Transitions {
    fn condition(
        &mut self,
        kind: &str,
        ok: bool,
        reason: Option<&str>,
        now: Timestamp,
    ) -> PodCondition {
        let status = if ok { "True" } else { "False" }.to_owned();
        let entry = self
            .0
            .entry(kind.to_owned())
            .or_insert_with(|| (status.clone(), now));
        if entry.0 != status {
            *entry = (status.clone(), now);
        }
        PodCondition {
            type_: kind.to_owned(),
            status,
            reason: if ok { None } else { reason.map(str::to_owned) },
            last_transition_time: Some(Time(entry.1)),
            ..PodCondition::default()
        }
    }
}

/// The Kubernetes phase for a view.
#[must_use]
pub fn phase(view: &PodView) -> &'static str {
    if view.failed.is_some() {
        return "Failed";
    }
    let all = &view.containers;
    let terminal = |c: &ContainerView| matches!(c.phase, Phase::Terminated(_)) && !c.will_restart;
    if !all.is_empty() && all.iter().all(terminal) {
        let ok = all
            .iter()
            .all(|c| matches!(&c.phase, Phase::Terminated(t) if t.exit_code == 0));
        return if ok { "Succeeded" } else { "Failed" };
    }
    let up = |c: &ContainerView| {
        matches!(c.phase, Phase::Running { .. }) || c.last.is_some() || terminal(c)
    };
    if view.initialized && all.iter().all(up) {
        "Running"
    } else {
        "Pending"
    }
}

/// Builds the `status` the agent reports for a view.
#[must_use]
pub fn pod_status(view: &PodView, transitions: &mut Transitions, now: Timestamp) -> PodStatus {
    let ready = view.initialized
        && !view.containers.is_empty()
        && view
            .containers
            .iter()
            .all(|c| matches!(c.phase, Phase::Running { ready: true, .. }));
    let containers_reason = if view.initialized {
        "ContainersNotReady"
    } else {
        "ContainersNotInitialized"
    };
    let conditions = vec![
        transitions.condition("PodScheduled", true, None, now),
        transitions.condition(
            "Initialized",
            view.initialized,
            Some("ContainersNotInitialized"),
            now,
        ),
        transitions.condition("ContainersReady", ready, Some(containers_reason), now),
        transitions.condition("Ready", ready, Some(containers_reason), now),
    ];
    let ip = view.pod_ip.map(|ip| ip.to_string());
    PodStatus {
        phase: Some(phase(view).to_owned()),
        conditions: Some(conditions),
        host_ip: Some(view.host_ip.to_string()),
        pod_ip: ip.clone(),
        pod_ips: ip.map(|ip| vec![PodIP { ip }]),
        start_time: Some(Time(view.start_time)),
        init_container_statuses: (!view.init.is_empty())
            .then(|| view.init.iter().map(container_status).collect()),
        container_statuses: Some(view.containers.iter().map(container_status).collect()),
        reason: view.failed.as_ref().map(|f| f.0.clone()),
        message: view.failed.as_ref().map(|f| f.1.clone()),
        qos_class: Some("BestEffort".to_owned()),
        ..PodStatus::default()
    }
}

fn terminated_state(t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            signal: t.signal,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: Some(Time(t.started_at)),
            finished_at: Some(Time(t.finished_at)),
            container_id: Some(t.container_id.clone()),
        }),
        ..ContainerState::default()
    }
}

fn container_status(c: &ContainerView) -> ContainerStatus {
    let (state, ready, started, id) = match &c.phase {
        Phase::Waiting { reason, message } => (
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..ContainerState::default()
            },
            false,
            false,
            c.last.as_ref().map(|t| t.container_id.clone()),
        ),
        Phase::Running {
            started_at,
            container_id,
            started,
            ready,
        } => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..ContainerState::default()
            },
            *ready,
            *started,
            Some(container_id.clone()),
        ),
        Phase::Terminated(t) => (
            terminated_state(t),
            false,
            false,
            Some(t.container_id.clone()),
        ),
    };
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: format!("localkube://{}", c.image),
        container_id: id,
        ready,
        started: Some(started),
        restart_count: c.restart_count,
        state: Some(state),
        last_state: Some(c.last.as_ref().map(terminated_state).unwrap_or_default()),
        ..ContainerStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn running(ready: bool) -> Phase {
        Phase::Running {
            started_at: ts(1),
            container_id: "localkube://1".into(),
            started: true,
            ready,
        }
    }

    fn exited(code: i32) -> Phase {
        Phase::Terminated(Terminated {
            exit_code: code,
            signal: None,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: ts(1),
            finished_at: ts(2),
            container_id: "localkube://1".into(),
        })
    }

    fn view(phases: Vec<(Phase, bool)>) -> PodView {
        PodView {
            host_ip: Ipv4Addr::LOCALHOST,
            pod_ip: Some(Ipv4Addr::new(127, 20, 0, 1)),
            start_time: ts(0),
            init: vec![],
            containers: phases
                .into_iter()
                .enumerate()
                .map(|(i, (phase, will_restart))| ContainerView {
                    name: format!("c{i}"),
                    image: "eddy/broker:1".into(),
                    phase,
                    last: None,
                    restart_count: 0,
                    will_restart,
                })
                .collect(),
            initialized: true,
            failed: None,
        }
    }

    fn cond(s: &PodStatus, kind: &str) -> String {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == kind)
            .unwrap()
            .status
            .clone()
    }

    #[test]
    fn ready_only_when_every_container_is_ready() {
        let mut t = Transitions::default();
        let s = pod_status(
            &view(vec![(running(true), true), (running(false), true)]),
            &mut t,
            ts(5),
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready"), "False");
        let s = pod_status(
            &view(vec![(running(true), true), (running(true), true)]),
            &mut t,
            ts(6),
        );
        assert_eq!(cond(&s, "Ready"), "True");
        assert_eq!(s.pod_ip.as_deref(), Some("127.20.0.1"));
    }

    #[test]
    fn transition_time_changes_only_on_change() {
        let mut t = Transitions::default();
        let v = view(vec![(running(false), true)]);
        let first = pod_status(&v, &mut t, ts(5));
        let again = pod_status(&v, &mut t, ts(9));
        assert_eq!(first.conditions, again.conditions);
        let flipped = pod_status(&view(vec![(running(true), true)]), &mut t, ts(12));
        let ready = flipped
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.last_transition_time, Some(Time(ts(12))));
    }

    #[test]
    fn phases_follow_restart_policy() {
        assert_eq!(phase(&view(vec![(exited(0), false)])), "Succeeded");
        assert_eq!(
            phase(&view(vec![(exited(0), false), (exited(1), false)])),
            "Failed"
        );
        // A container that will be restarted keeps the pod Running.
        let mut v = view(vec![(exited(1), true)]);
        v.containers[0].last = Some(match exited(1) {
            Phase::Terminated(t) => t,
            _ => unreachable!(),
        });
        assert_eq!(phase(&v), "Running");
        let waiting = Phase::Waiting {
            reason: "ContainerCreating".into(),
            message: None,
        };
        assert_eq!(phase(&view(vec![(waiting, true)])), "Pending");
    }

    #[test]
    fn pod_failure_wins() {
        let mut v = view(vec![(running(true), true)]);
        v.failed = Some(("Bad".into(), "why".into()));
        let s = pod_status(&v, &mut Transitions::default(), ts(1));
        assert_eq!(
            (s.phase.as_deref(), s.reason.as_deref()),
            (Some("Failed"), Some("Bad"))
        );
    }
}
