//! Tests of the operation state machine.

use super::*;
use proptest::prelude::*;

fn op(kind: OpKind, state: OpState) -> OpProgress {
    OpProgress {
        kind,
        state,
        target_generation: Some(2),
        restart_token: (kind == OpKind::Restart).then(|| "r1".to_string()),
        started_at: 1000,
        last_step: None,
    }
}

fn obs(observed: i64, ready: bool) -> Observation {
    Observation {
        exists: true,
        observed_generation: Some(observed),
        ready,
        ..Observation::default()
    }
}

#[test]
fn create_goes_pending_running_succeeded_and_opens_billing() {
    let mut o = op(OpKind::Create, OpState::Pending);
    assert_eq!(
        advance(&o, &obs(1, false), 1001),
        None,
        "old generation: still pending"
    );
    let step = advance(&o, &obs(2, false), 1002).unwrap();
    assert_eq!(
        (step.op_state, step.cluster_state),
        (OpState::Running, ClusterState::Creating)
    );
    o.state = step.op_state;
    assert_eq!(advance(&o, &obs(2, false), 1003), None);
    let done = advance(&o, &obs(2, true), 1004).unwrap();
    assert_eq!(
        (done.op_state, done.cluster_state),
        (OpState::Succeeded, ClusterState::Active)
    );
    assert_eq!(done.billing, BillingEffect::Open);
}

#[test]
fn ready_before_observing_the_new_generation_is_not_success() {
    let o = op(OpKind::Resize, OpState::Running);
    assert_eq!(advance(&o, &obs(1, true), 1001), None);
    assert_eq!(
        advance(&o, &obs(2, true), 1001).unwrap().billing,
        BillingEffect::Reopen
    );
}

#[test]
fn a_failed_create_costs_nothing_and_fails_the_cluster() {
    let o = op(OpKind::Create, OpState::Running);
    let f = Observation {
        failure: Some("InvalidSpec".into()),
        ..obs(2, false)
    };
    let out = advance(&o, &f, 1001).unwrap();
    assert_eq!(out.op_state, OpState::Failed);
    assert_eq!(out.cluster_state, ClusterState::Failed);
    assert_eq!(out.billing, BillingEffect::None);
}

#[test]
fn a_failed_resize_of_a_ready_cluster_leaves_it_active() {
    let o = op(OpKind::Resize, OpState::Running);
    let f = Observation {
        failure: Some("DrainFailed".into()),
        ..obs(2, true)
    };
    assert_eq!(
        advance(&o, &f, 1001).unwrap().cluster_state,
        ClusterState::Active
    );
}

#[test]
fn a_resize_waits_for_the_drain_of_a_scale_down() {
    let o = op(OpKind::Resize, OpState::Running);
    let draining = Observation {
        settling: true,
        ..obs(2, true)
    };
    assert_eq!(advance(&o, &draining, 1001), None, "brokers still draining");
    assert_eq!(
        advance(&o, &obs(2, true), 1002).unwrap().op_state,
        OpState::Succeeded
    );
}

#[test]
fn a_resize_records_each_scale_down_phase_as_a_step_once() {
    let mut o = op(OpKind::Resize, OpState::Running);
    let phase = |p: &str| Observation {
        settling: true,
        scale_down: Some(ScaleDownObservation {
            phase: p.into(),
            brokers: vec![3, 4],
        }),
        ..obs(2, true)
    };
    let mut steps = Vec::new();
    for p in [
        "Waiting",
        "Draining",
        "Draining",
        "MovingVoters",
        "Unregistering",
        "Shrinking",
    ] {
        if let Some(out) = advance(&o, &phase(p), 1001) {
            assert_eq!(out.op_state, OpState::Running);
            assert_eq!(out.cluster_state, ClusterState::Updating);
            o.last_step = Some(out.step.clone());
            steps.push(out.step);
        }
    }
    assert_eq!(
        steps,
        [
            "waiting for a KafkaRebalance before draining brokers [3, 4]",
            "draining brokers [3, 4]: moving their replicas off",
            "moving the controller voters off brokers [3, 4]",
            "unregistering brokers [3, 4]",
            "removing brokers [3, 4]",
        ]
    );
    // Done: the scale-down is no longer reported and the resize succeeds.
    assert_eq!(
        advance(&o, &obs(2, true), 1002).unwrap().op_state,
        OpState::Succeeded
    );
}

#[test]
fn restart_needs_the_operator_to_confirm_the_token() {
    let o = op(OpKind::Restart, OpState::Running);
    assert_eq!(advance(&o, &obs(2, true), 1001), None);
    let other = Observation {
        completed_restart: Some("r0".into()),
        ..obs(2, true)
    };
    assert_eq!(advance(&o, &other, 1001), None);
    let done = Observation {
        completed_restart: Some("r1".into()),
        ..obs(2, true)
    };
    assert_eq!(
        advance(&o, &done, 1001).unwrap().op_state,
        OpState::Succeeded
    );
}

#[test]
fn delete_succeeds_when_the_resource_is_gone() {
    let o = op(OpKind::Delete, OpState::Pending);
    assert_eq!(advance(&o, &obs(2, true), 1001), None);
    let gone = advance(&o, &Observation::default(), 1002).unwrap();
    assert_eq!(
        (gone.op_state, gone.cluster_state),
        (OpState::Succeeded, ClusterState::Deleted)
    );
}

#[test]
fn operations_time_out() {
    let o = op(OpKind::Create, OpState::Running);
    let out = advance(
        &o,
        &obs(2, false),
        1000 + OpKind::Create.deadline_secs() + 1,
    )
    .unwrap();
    assert_eq!(out.op_state, OpState::Failed);
    assert!(out.error.unwrap().contains("timed out"));
}

#[test]
fn vanished_resource_fails_non_delete_operations() {
    let o = op(OpKind::Upgrade, OpState::Running);
    assert_eq!(
        advance(&o, &Observation::default(), 1001).unwrap().op_state,
        OpState::Failed
    );
}

#[test]
fn names_round_trip() {
    for k in [
        OpKind::Create,
        OpKind::Resize,
        OpKind::Upgrade,
        OpKind::Restart,
        OpKind::Delete,
    ] {
        assert_eq!(OpKind::parse(k.as_str()), Some(k));
    }
    for s in [
        OpState::Pending,
        OpState::Running,
        OpState::Succeeded,
        OpState::Failed,
    ] {
        assert_eq!(OpState::parse(s.as_str()), Some(s));
    }
    assert_eq!(
        ClusterState::parse("deleting"),
        Some(ClusterState::Deleting)
    );
    assert_eq!(ClusterState::parse("nope"), None);
}

#[test]
fn downtime_opens_only_for_active_clusters() {
    assert_eq!(
        health_change(ClusterState::Active, false, false),
        Some(true)
    );
    assert_eq!(health_change(ClusterState::Active, true, true), Some(false));
    assert_eq!(health_change(ClusterState::Restarting, false, false), None);
    assert_eq!(
        health_change(ClusterState::Deleted, true, false),
        Some(false)
    );
    assert_eq!(health_change(ClusterState::Active, false, true), None);
}

fn kind() -> impl Strategy<Value = OpKind> {
    prop_oneof![
        Just(OpKind::Create),
        Just(OpKind::Resize),
        Just(OpKind::Upgrade),
        Just(OpKind::Restart),
        Just(OpKind::Delete)
    ]
}

fn observation() -> impl Strategy<Value = Observation> {
    (
        any::<bool>(),
        proptest::option::of(0i64..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(exists, observed_generation, ready, failed, restarted)| Observation {
                exists,
                observed_generation,
                ready,
                failure: failed.then(|| "Boom".to_string()),
                settling: false,
                completed_restart: restarted.then(|| "r1".to_string()),
                bootstrap: None,
                upgrade: None,
                scale_down: None,
            },
        )
}

proptest! {
    #[test]
    fn finished_operations_never_move_and_active_ones_only_move_forward(
        k in kind(), observations in proptest::collection::vec(observation(), 1..20),
    ) {
        let mut o = op(k, OpState::Pending);
        let mut now = 1000;
        for ob in &observations {
            now += 10;
            if let Some(out) = advance(&o, ob, now) {
                prop_assert!(o.state.is_active());
                // Pending -> Running | terminal; Running -> terminal only.
                prop_assert!(!(o.state == OpState::Running && out.op_state == OpState::Pending));
                prop_assert!(out.op_state != o.state);
                if out.op_state == OpState::Failed {
                    prop_assert_eq!(out.billing, BillingEffect::None);
                    prop_assert!(out.error.is_some());
                }
                if out.billing == BillingEffect::Open {
                    prop_assert_eq!(k, OpKind::Create);
                }
                o.state = out.op_state;
            }
        }
        if !o.state.is_active() {
            for ob in &observations {
                prop_assert_eq!(advance(&o, ob, now), None);
            }
        }
    }
}

fn upgrade(phase: &str, on_target: usize, finalized: i16) -> Observation {
    Observation {
        upgrade: Some(UpgradeObservation {
            phase: phase.into(),
            to_version: "0.2.0".into(),
            on_target,
            brokers: 3,
            finalized_level: Some(finalized),
            target_level: Some(2),
            message: Some("m".into()),
        }),
        ..obs(2, true)
    }
}

#[test]
fn an_upgrade_reports_each_phase_as_a_step_and_succeeds_only_once_finalized() {
    let mut o = op(OpKind::Upgrade, OpState::Pending);
    // A Ready cluster mid-roll is not done.
    let out = advance(&o, &upgrade("Rolling", 1, 1), 1001).unwrap();
    assert_eq!(
        (out.op_state, out.step.as_str()),
        (OpState::Running, "operator reconciling")
    );
    o.state = OpState::Running;
    o.last_step = Some(out.step);
    let out = advance(&o, &upgrade("Rolling", 1, 1), 1002).unwrap();
    assert_eq!(out.step, "rolling brokers to 0.2.0: 1 of 3 upgraded");
    assert_eq!(out.cluster_state, ClusterState::Updating);
    o.last_step = Some(out.step);
    assert_eq!(
        advance(&o, &upgrade("Rolling", 1, 1), 1003),
        None,
        "no repeat"
    );
    let out = advance(&o, &upgrade("Rolling", 2, 1), 1004).unwrap();
    assert_eq!(out.step, "rolling brokers to 0.2.0: 2 of 3 upgraded");
    let out = advance(&o, &upgrade("Finalizing", 3, 1), 1005).unwrap();
    assert_eq!(out.step, "finalizing eddy.version 2");
    o.last_step = Some(out.step);
    // Done but not Ready: wait.
    let not_ready = Observation {
        ready: false,
        ..upgrade("Done", 3, 2)
    };
    assert!(advance(&o, &not_ready, 1006).is_none_or(|x| x.op_state == OpState::Running));
    let out = advance(&o, &upgrade("Done", 3, 2), 1007).unwrap();
    assert_eq!(out.op_state, OpState::Succeeded);
    assert_eq!(out.cluster_state, ClusterState::Active);
    assert_eq!(out.step, "every broker runs 0.2.0 at eddy.version 2");
    assert_eq!(out.billing, BillingEffect::None);
}

#[test]
fn a_refused_upgrade_fails_and_leaves_a_ready_cluster_active() {
    let o = op(OpKind::Upgrade, OpState::Running);
    let out = advance(&o, &upgrade("Refused", 3, 2), 1001).unwrap();
    assert_eq!(out.op_state, OpState::Failed);
    assert_eq!(out.cluster_state, ClusterState::Active);
    assert!(out.error.unwrap().contains("refused"));
    // Without an upgrade status (an older operator), Ready still ends it.
    assert_eq!(
        advance(&o, &obs(2, true), 1001).unwrap().op_state,
        OpState::Succeeded
    );
}
