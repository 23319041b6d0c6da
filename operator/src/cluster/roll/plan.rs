//! Rolling-restart planner (pure): which broker restarts next and what to do with it now.
//!
//! The StatefulSet uses `updateStrategy: OnDelete`, so brokers restart only when the operator
//! deletes their pod. A restart is triggered by a new `eddy.io/manual-rolling-restart` token
//! (every broker) or by pods whose `controller-revision-hash` differs from the StatefulSet's
//! `updateRevision` (config or version change: those pods). One broker at a time, unready brokers
//! first, the active controller last; each is gated by its pre-restart probe (poll until safe)
//! and followed by its post-restart probe (poll until caught up). The whole state lives in
//! `status.rollingRestart`, so a restarted operator resumes where it stopped.
//!
//! The executor calls [`plan`] without a probe verdict; when the answer is [`Action::Probe`] it
//! asks that broker and calls [`plan`] again with the verdict.
use crate::crd::{BrokerRestart, RestartPhase, RollingRestartStatus, RollingRestartTrigger};

/// One broker pod as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// Pod ordinal (the broker id).
    pub ordinal: i32,
    /// Pod UID.
    pub uid: String,
    /// Readiness condition of the pod.
    pub ready: bool,
    /// The pod's `controller-revision-hash` label.
    pub revision: Option<String>,
}

/// Everything the planner decides from.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    /// Desired broker count.
    pub brokers: i32,
    /// Live broker pods (not being deleted).
    pub pods: &'a [PodView],
    /// The StatefulSet's `status.updateRevision`.
    pub update_revision: Option<&'a str>,
    /// Value of `eddy.io/manual-rolling-restart`.
    pub manual_token: Option<&'a str>,
    /// Value of `eddy.io/manual-rolling-restart-done`.
    pub done_token: Option<&'a str>,
    /// The restart in progress (`status.rollingRestart`).
    pub state: Option<&'a RollingRestartStatus>,
    /// The active controller's broker id, when known (restarted last).
    pub controller_id: Option<i32>,
    /// Now, RFC 3339 (recorded as `startedAt`).
    pub now: &'a str,
}

/// Which restart probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `GET /v1/broker/pre-restart-probe`: may this broker restart now?
    Pre,
    /// `GET /v1/broker/post-restart-probe`: has the restarted broker caught up?
    Post,
}

/// What a broker's probe answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `safe: true` (pre) or `caught_up: true` (post).
    Pass,
    /// Not yet, with the broker's reasons.
    Hold(Vec<String>),
    /// No answer (connection refused, timeout, bad response).
    Unreachable(String),
    /// The broker answers HTTP but has no such probe (404: a broker older than the probes).
    Unsupported,
}

/// The next thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No restart is due.
    Idle,
    /// Ask this broker's probe, then plan again with the verdict.
    Probe {
        /// Which probe.
        kind: ProbeKind,
        /// Broker id.
        broker_id: i32,
    },
    /// Delete this pod (its UID as a precondition); the StatefulSet recreates it.
    DeletePod {
        /// Broker id.
        broker_id: i32,
        /// UID of the pod to delete.
        uid: String,
    },
    /// Nothing to do before the next look; `blocked` when a probe holds the restart.
    Wait {
        /// Human-readable progress or the probe's reasons.
        message: String,
        /// A probe says no (condition reason `RollingRestartBlocked`).
        blocked: bool,
    },
    /// Every broker was restarted: clear the state, record the manual token as done.
    Finished {
        /// Manual token to write to `eddy.io/manual-rolling-restart-done`.
        token: Option<String>,
    },
}

/// The planner's answer: the state to store in status and the action to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// New `status.rollingRestart` (None: no restart in progress).
    pub state: Option<RollingRestartStatus>,
    /// What to do now.
    pub action: Action,
}

fn outdated(input: &Input<'_>) -> Vec<i32> {
    let Some(update) = input.update_revision else {
        return Vec::new();
    };
    let mut ids: Vec<i32> = input
        .pods
        .iter()
        .filter(|p| p.ordinal < input.brokers)
        .filter(|p| p.revision.as_deref().is_some_and(|r| r != update))
        .map(|p| p.ordinal)
        .collect();
    ids.sort_unstable();
    ids
}

fn start(input: &Input<'_>) -> Option<RollingRestartStatus> {
    if let Some(token) = input.manual_token.filter(|t| Some(*t) != input.done_token) {
        return Some(RollingRestartStatus {
            trigger: RollingRestartTrigger::ManualRestart,
            token: Some(token.to_string()),
            pending: (0..input.brokers).collect(),
            restarted: Vec::new(),
            current: None,
            started_at: Some(input.now.to_string()),
        });
    }
    let ids = outdated(input);
    (!ids.is_empty()).then(|| RollingRestartStatus {
        trigger: RollingRestartTrigger::PodTemplateChanged,
        token: None,
        pending: ids,
        restarted: Vec::new(),
        current: None,
        started_at: Some(input.now.to_string()),
    })
}

/// The next broker to restart: unready (or missing) pods first, the active controller last,
/// then by id.
#[must_use]
pub fn next_broker(pending: &[i32], pods: &[PodView], controller_id: Option<i32>) -> Option<i32> {
    pending.iter().copied().min_by_key(|id| {
        let ready = pods.iter().any(|p| p.ordinal == *id && p.ready);
        (ready, Some(*id) == controller_id, *id)
    })
}

fn progress(state: &RollingRestartStatus, brokers: i32, what: &str) -> String {
    let total = state.restarted.len() + state.pending.len() + usize::from(state.current.is_some());
    format!(
        "{what} ({} of {total} brokers restarted; {brokers} in the cluster)",
        state.restarted.len()
    )
}

fn wait(state: RollingRestartStatus, message: String, blocked: bool) -> Plan {
    Plan {
        state: Some(state),
        action: Action::Wait { message, blocked },
    }
}

/// Plans the next rolling-restart step. `verdict` is the answer of the probe a previous call
/// asked for ([`Action::Probe`]), for the current broker and phase.
#[must_use]
pub fn plan(input: &Input<'_>, verdict: Option<&Verdict>) -> Plan {
    let Some(mut state) = input.state.cloned().or_else(|| start(input)) else {
        return Plan {
            state: None,
            action: Action::Idle,
        };
    };
    // Brokers removed by a scale-down are not restarted; pods that became outdated meanwhile are.
    state.pending.retain(|id| *id < input.brokers);
    if state
        .current
        .as_ref()
        .is_some_and(|c| c.broker_id >= input.brokers)
    {
        state.current = None;
    }
    if state.trigger == RollingRestartTrigger::PodTemplateChanged {
        // A template changed back (a version rolled back before it was finalized) makes pods
        // that were waiting their turn current again: they are not restarted for nothing.
        if let Some(update) = input.update_revision {
            state.pending.retain(|id| {
                input
                    .pods
                    .iter()
                    .any(|p| p.ordinal == *id && p.revision.as_deref().is_none_or(|r| r != update))
            });
        }
        let current = state.current.as_ref().map(|c| c.broker_id);
        for id in outdated(input) {
            if Some(id) != current && !state.pending.contains(&id) {
                state.pending.push(id);
            }
        }
    }
    let current = if let Some(c) = state.current.clone() {
        c
    } else {
        let Some(id) = next_broker(&state.pending, input.pods, input.controller_id) else {
            return Plan {
                state: None,
                action: Action::Finished {
                    token: state.token.clone(),
                },
            };
        };
        state.pending.retain(|p| *p != id);
        let c = BrokerRestart {
            broker_id: id,
            phase: RestartPhase::PreRestartCheck,
            deleted_pod_uid: None,
        };
        state.current = Some(c.clone());
        c
    };
    let id = current.broker_id;
    let pod = input.pods.iter().find(|p| p.ordinal == id);
    match current.phase {
        RestartPhase::PreRestartCheck => {
            let Some(pod) = pod else {
                // No pod to restart (being recreated): wait for it like after a delete.
                state.current = Some(BrokerRestart {
                    phase: RestartPhase::WaitingForPod,
                    ..current
                });
                let msg = progress(&state, input.brokers, &format!("broker {id} has no pod"));
                return wait(state, msg, false);
            };
            let delete = match verdict {
                None => {
                    return Plan {
                        state: Some(state),
                        action: Action::Probe {
                            kind: ProbeKind::Pre,
                            broker_id: id,
                        },
                    };
                }
                Some(Verdict::Pass) => true,
                // A broker that does not answer and is not ready serves nobody: restarting it
                // is what unready-first is for.
                Some(Verdict::Unreachable(_)) => !pod.ready,
                // A broker without the probe: only a ready one is known not to be recovering.
                Some(Verdict::Unsupported) => pod.ready,
                Some(Verdict::Hold(_)) => false,
            };
            if delete {
                state.current = Some(BrokerRestart {
                    broker_id: id,
                    phase: RestartPhase::WaitingForPod,
                    deleted_pod_uid: Some(pod.uid.clone()),
                });
                return Plan {
                    state: Some(state),
                    action: Action::DeletePod {
                        broker_id: id,
                        uid: pod.uid.clone(),
                    },
                };
            }
            let why = match verdict {
                Some(Verdict::Hold(reasons)) => format!(
                    "broker {id} is not safe to restart: {}",
                    if reasons.is_empty() {
                        "no reason given".to_string()
                    } else {
                        reasons.join("; ")
                    }
                ),
                Some(Verdict::Unreachable(e)) => {
                    format!("broker {id}'s pre-restart probe did not answer: {e}")
                }
                _ => format!("broker {id} has no pre-restart probe and is not ready"),
            };
            let msg = progress(&state, input.brokers, &why);
            wait(state, msg, true)
        }
        RestartPhase::WaitingForPod => match pod {
            Some(p) if current.deleted_pod_uid.as_deref() == Some(p.uid.as_str()) => {
                // The delete was recorded but did not happen (operator restarted in between).
                Plan {
                    state: Some(state),
                    action: Action::DeletePod {
                        broker_id: id,
                        uid: p.uid.clone(),
                    },
                }
            }
            Some(p) if p.ready => {
                state.current = Some(BrokerRestart {
                    phase: RestartPhase::PostRestartCheck,
                    ..current
                });
                post_check(state, input.brokers, p, verdict)
            }
            _ => {
                let msg = progress(
                    &state,
                    input.brokers,
                    &format!("waiting for broker {id}'s new pod to be ready"),
                );
                wait(state, msg, false)
            }
        },
        RestartPhase::PostRestartCheck => match pod {
            Some(p) => post_check(state, input.brokers, p, verdict),
            None => {
                let msg = progress(
                    &state,
                    input.brokers,
                    &format!("broker {id}'s pod is gone after its restart"),
                );
                wait(state, msg, true)
            }
        },
    }
}

/// The post-restart step of the current broker, whose new pod is ready.
fn post_check(
    mut state: RollingRestartStatus,
    brokers: i32,
    pod: &PodView,
    verdict: Option<&Verdict>,
) -> Plan {
    let id = pod.ordinal;
    let done = match verdict {
        None => {
            return Plan {
                state: Some(state),
                action: Action::Probe {
                    kind: ProbeKind::Post,
                    broker_id: id,
                },
            };
        }
        Some(Verdict::Pass) => true,
        Some(Verdict::Unsupported) => pod.ready,
        _ => false,
    };
    if done {
        state.current = None;
        state.restarted.push(id);
        let msg = progress(&state, brokers, &format!("broker {id} restarted"));
        return wait(state, msg, false);
    }
    let why = match verdict {
        Some(Verdict::Hold(reasons)) => format!(
            "broker {id} has not caught up after its restart: {}",
            reasons.join("; ")
        ),
        Some(Verdict::Unreachable(e)) => {
            format!("broker {id}'s post-restart probe did not answer: {e}")
        }
        _ => format!("broker {id} is not ready after its restart"),
    };
    let msg = progress(&state, brokers, &why);
    wait(state, msg, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32, ready: bool, revision: &str) -> PodView {
        PodView {
            ordinal,
            uid: format!("uid-{ordinal}-{revision}"),
            ready,
            revision: Some(revision.to_string()),
        }
    }

    fn input<'a>(pods: &'a [PodView], state: Option<&'a RollingRestartStatus>) -> Input<'a> {
        Input {
            brokers: i32::try_from(pods.len()).unwrap_or(0),
            pods,
            update_revision: Some("r1"),
            manual_token: None,
            done_token: None,
            state,
            controller_id: None,
            now: "t",
        }
    }

    /// Drives the planner like the executor does, with `probe` answering every probe and pods
    /// recreated (new UID, update revision, ready) as soon as they are deleted. Returns the
    /// order in which brokers were deleted and the finishing token.
    fn drive(
        mut pods: Vec<PodView>,
        mut inp: impl FnMut(&[PodView], Option<&RollingRestartStatus>) -> Plan,
        probe: impl Fn(ProbeKind, i32) -> Verdict,
        probe_plan: impl Fn(&[PodView], Option<&RollingRestartStatus>, &Verdict) -> Plan,
    ) -> (Vec<i32>, Option<String>) {
        let mut state: Option<RollingRestartStatus> = None;
        let mut deleted = Vec::new();
        for _ in 0..100 {
            let mut p = inp(&pods, state.as_ref());
            if let Action::Probe { kind, broker_id } = p.action {
                let v = probe(kind, broker_id);
                p = probe_plan(&pods, state.as_ref(), &v);
            }
            state = p.state.clone();
            match p.action {
                Action::DeletePod { broker_id, uid } => {
                    let slot = pods
                        .iter_mut()
                        .find(|x| x.uid == uid)
                        .expect("deleting a live pod");
                    *slot = PodView {
                        ordinal: broker_id,
                        uid: format!("new-{broker_id}-{}", deleted.len()),
                        ready: true,
                        revision: Some("r1".into()),
                    };
                    deleted.push(broker_id);
                }
                Action::Finished { token } => return (deleted, token),
                Action::Idle => return (deleted, None),
                Action::Wait { blocked, message } => assert!(!blocked, "{message}"),
                Action::Probe { .. } => panic!("asked for a probe twice"),
            }
        }
        panic!("no end after 100 steps");
    }

    #[test]
    fn nothing_to_do_without_a_token_or_outdated_pods() {
        let pods = [pod(0, true, "r1"), pod(1, true, "r1")];
        let p = plan(&input(&pods, None), None);
        assert_eq!(p.action, Action::Idle);
        assert_eq!(p.state, None);
        // A token already done is not rolled again.
        let mut i = input(&pods, None);
        i.manual_token = Some("a");
        i.done_token = Some("a");
        assert_eq!(plan(&i, None).action, Action::Idle);
    }

    #[test]
    fn manual_restart_rolls_every_broker_once_unready_first_then_records_the_token() {
        let pods = vec![pod(0, true, "r1"), pod(1, false, "r1"), pod(2, true, "r1")];
        let run = |pods: &[PodView], s: Option<&RollingRestartStatus>, v: Option<&Verdict>| {
            let mut i = input(pods, s);
            i.manual_token = Some("tok-1");
            i.done_token = Some("tok-0");
            plan(&i, v)
        };
        let (order, token) = drive(
            pods,
            |p, s| run(p, s, None),
            |_, _| Verdict::Pass,
            |p, s, v| run(p, s, Some(v)),
        );
        assert_eq!(order, vec![1, 0, 2]);
        assert_eq!(token.as_deref(), Some("tok-1"));
    }

    #[test]
    fn active_controller_restarts_last() {
        let pods = vec![pod(0, true, "r0"), pod(1, true, "r0"), pod(2, true, "r0")];
        let run = |pods: &[PodView], s: Option<&RollingRestartStatus>, v: Option<&Verdict>| {
            let mut i = input(pods, s);
            i.controller_id = Some(0);
            plan(&i, v)
        };
        let (order, token) = drive(
            pods,
            |p, s| run(p, s, None),
            |_, _| Verdict::Pass,
            |p, s, v| run(p, s, Some(v)),
        );
        assert_eq!(order, vec![1, 2, 0]);
        assert_eq!(token, None);
    }

    #[test]
    fn template_change_restarts_only_outdated_pods() {
        let pods = vec![pod(0, true, "r1"), pod(1, true, "r0"), pod(2, true, "r0")];
        let (order, _) = drive(
            pods,
            |p, s| plan(&input(p, s), None),
            |_, _| Verdict::Pass,
            |p, s, v| plan(&input(p, s), Some(v)),
        );
        assert_eq!(order, vec![1, 2]);
    }

    fn started(pods: &[PodView]) -> RollingRestartStatus {
        let mut i = input(pods, None);
        i.manual_token = Some("t");
        plan(&i, None).state.expect("started")
    }

    #[test]
    fn unsafe_broker_is_not_deleted_and_the_reasons_are_reported() {
        let pods = [pod(0, true, "r1")];
        let state = started(&pods);
        let mut i = input(&pods, Some(&state));
        i.manual_token = Some("t");
        let p = plan(
            &i,
            Some(&Verdict::Hold(vec![
                "partition t-0 would drop below min ISR".into(),
            ])),
        );
        match p.action {
            Action::Wait { message, blocked } => {
                assert!(blocked);
                assert!(message.contains("min ISR"), "{message}");
            }
            other => panic!("expected a wait, got {other:?}"),
        }
        let cur = p.state.and_then(|s| s.current).expect("current");
        assert_eq!(cur.phase, RestartPhase::PreRestartCheck);
    }

    #[test]
    fn unreachable_probe_blocks_a_ready_broker_but_not_an_unready_one() {
        for (ready, deletes) in [(true, false), (false, true)] {
            let pods = [pod(0, ready, "r1")];
            let state = started(&pods);
            let p = plan(
                &input(&pods, Some(&state)),
                Some(&Verdict::Unreachable("refused".into())),
            );
            assert_eq!(
                matches!(p.action, Action::DeletePod { .. }),
                deletes,
                "ready={ready}: {:?}",
                p.action
            );
        }
    }

    #[test]
    fn brokers_without_probes_fall_back_to_readiness() {
        for (ready, deletes) in [(true, true), (false, false)] {
            let pods = [pod(0, ready, "r1")];
            let state = started(&pods);
            let p = plan(&input(&pods, Some(&state)), Some(&Verdict::Unsupported));
            assert_eq!(matches!(p.action, Action::DeletePod { .. }), deletes);
        }
    }

    #[test]
    fn restart_waits_for_the_new_pod_then_for_it_to_catch_up() {
        let old = [pod(0, true, "r0"), pod(1, true, "r0")];
        let state = started(&old);
        let p = plan(&input(&old, Some(&state)), Some(&Verdict::Pass));
        let Action::DeletePod { broker_id: 0, uid } = p.action else {
            panic!("expected delete of 0, got {:?}", p.action)
        };
        let state = p.state.expect("state");
        // The old pod is still listed (the delete was lost): delete again.
        let again = plan(&input(&old, Some(&state)), None);
        assert_eq!(
            again.action,
            Action::DeletePod {
                broker_id: 0,
                uid: uid.clone()
            }
        );
        // Replacement not ready yet: wait.
        let mut new = vec![pod(1, true, "r0")];
        let mut fresh = pod(0, false, "r1");
        fresh.uid = "fresh".into();
        new.push(fresh.clone());
        let p = plan(&input(&new, Some(&state)), None);
        assert!(matches!(p.action, Action::Wait { blocked: false, .. }));
        // Ready: the post-restart probe is asked; not caught up holds; caught up moves on.
        new[1].ready = true;
        let p = plan(&input(&new, Some(&state)), None);
        assert_eq!(
            p.action,
            Action::Probe {
                kind: ProbeKind::Post,
                broker_id: 0
            }
        );
        let post = p.state.expect("state");
        let held = plan(
            &input(&new, Some(&post)),
            Some(&Verdict::Hold(vec!["t-0 out of ISR".into()])),
        );
        assert!(matches!(held.action, Action::Wait { blocked: true, .. }));
        let ok = plan(&input(&new, Some(&post)), Some(&Verdict::Pass));
        let s = ok.state.expect("state");
        assert_eq!(s.restarted, vec![0]);
        assert_eq!(s.current, None);
        assert_eq!(s.pending, vec![1]);
    }

    #[test]
    fn pods_the_template_changed_back_to_are_not_restarted() {
        // 0.2.0 was rolling (broker 1 restarted first); the version went back, so the update
        // revision is r1 again: brokers 0 and 2, never restarted, are current again.
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r1")];
        let state = RollingRestartStatus {
            trigger: RollingRestartTrigger::PodTemplateChanged,
            token: None,
            pending: vec![0, 2],
            restarted: vec![1],
            current: None,
            started_at: Some("t".into()),
        };
        let p = plan(&input(&pods, Some(&state)), None);
        assert_eq!(p.action, Action::Finished { token: None });
        // One still on the other revision is restarted, and only that one.
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r2")];
        let p = plan(&input(&pods, Some(&state)), None);
        assert_eq!(
            p.action,
            Action::Probe {
                kind: ProbeKind::Pre,
                broker_id: 2
            }
        );
        assert_eq!(p.state.expect("state").pending, Vec::<i32>::new());
    }

    #[test]
    fn scale_down_drops_removed_brokers_from_the_plan() {
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r1")];
        let mut state = started(&pods);
        state.current = Some(BrokerRestart {
            broker_id: 2,
            phase: RestartPhase::PreRestartCheck,
            deleted_pod_uid: None,
        });
        state.pending = vec![1];
        let mut i = input(&pods, Some(&state));
        i.brokers = 1;
        let p = plan(&i, None);
        assert_eq!(
            p.action,
            Action::Finished {
                token: Some("t".into())
            }
        );
    }

    #[test]
    fn next_broker_prefers_unready_then_non_controller_then_lowest_id() {
        let pods = [pod(0, true, "r"), pod(1, true, "r"), pod(2, false, "r")];
        assert_eq!(next_broker(&[0, 1, 2], &pods, Some(0)), Some(2));
        assert_eq!(next_broker(&[0, 1], &pods, Some(0)), Some(1));
        assert_eq!(next_broker(&[0], &pods, Some(0)), Some(0));
        // A broker without a pod counts as unready.
        assert_eq!(next_broker(&[1, 5], &pods, None), Some(5));
        assert_eq!(next_broker(&[], &pods, None), None);
    }
}
