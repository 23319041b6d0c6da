//! The operation state machine, pure: how a cluster operation (create, resize, upgrade, restart,
//! delete) advances from what the operator reports in the KafkaCluster status, what state the
//! cluster is in meanwhile, and which billing change each outcome causes.

use serde::{Deserialize, Serialize};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Resize,
    Upgrade,
    Restart,
    Delete,
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    /// Recorded and written to Kubernetes; the operator has not picked it up yet.
    Pending,
    /// The operator is reconciling it.
    Running,
    Succeeded,
    Failed,
}

/// The cluster's lifecycle state as shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    Creating,
    Active,
    Updating,
    Restarting,
    Deleting,
    Deleted,
    Failed,
}

macro_rules! string_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The stored name.
            pub fn as_str(self) -> &'static str { match self { $(Self::$v => $s),* } }
            /// Parses the stored name.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some(Self::$v),)* _ => None } }
        }
    };
}
string_enum!(OpKind { Create => "create", Resize => "resize", Upgrade => "upgrade", Restart => "restart", Delete => "delete" });
string_enum!(OpState { Pending => "pending", Running => "running", Succeeded => "succeeded", Failed => "failed" });
string_enum!(ClusterState { Creating => "creating", Active => "active", Updating => "updating", Restarting => "restarting", Deleting => "deleting", Deleted => "deleted", Failed => "failed" });

impl OpKind {
    /// The cluster's state while an operation of this kind is in flight.
    pub fn cluster_state_while(self) -> ClusterState {
        match self {
            Self::Create => ClusterState::Creating,
            Self::Resize | Self::Upgrade => ClusterState::Updating,
            Self::Restart => ClusterState::Restarting,
            Self::Delete => ClusterState::Deleting,
        }
    }

    /// How long an operation may run before it is failed as timed out, in seconds.
    /// Documented in the README; generous because a rolling restart waits on each broker.
    pub fn deadline_secs(self) -> i64 {
        match self {
            Self::Create | Self::Delete => 30 * 60,
            Self::Resize | Self::Upgrade | Self::Restart => 2 * 60 * 60,
        }
    }
}

impl OpState {
    /// Whether the operation still holds the cluster's single operation slot.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }
}

impl ClusterState {
    /// Whether a new mutation may start from this state (given no active operation).
    pub fn accepts_mutations(self) -> bool {
        matches!(self, Self::Active | Self::Failed)
    }
}

/// What the operator reports for one KafkaCluster (from its status), or that it is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub exists: bool,
    pub observed_generation: Option<i64>,
    /// The Ready condition is True.
    pub ready: bool,
    /// A terminal failure the operator reported (condition reason and message).
    pub failure: Option<String>,
    /// The operator is still moving the cluster to its spec although the brokers serve (a
    /// scale-down drains brokers before they go): an operation is not done yet.
    pub settling: bool,
    /// The restart request the operator last completed (see `restart_token`).
    pub completed_restart: Option<String>,
    pub bootstrap: Option<String>,
    /// The version upgrade as the operator reports it (`status.upgrade`), when it does.
    #[serde(default)]
    pub upgrade: Option<UpgradeObservation>,
    /// A scale-down under way (`status.scaleDown`, neither done nor blocked), when one is.
    #[serde(default)]
    pub scale_down: Option<ScaleDownObservation>,
}

/// A scale-down the operator reports (`status.scaleDown` of the KafkaCluster).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleDownObservation {
    /// Waiting | Draining | MovingVoters | Unregistering | Shrinking.
    pub phase: String,
    /// The brokers that go.
    pub brokers: Vec<i32>,
}

impl ScaleDownObservation {
    /// The operation step the phase stands for: the drain and what follows it, one step each
    /// (the partitions left are in the cluster's status, not a step per count).
    pub fn step(&self) -> String {
        let b = &self.brokers;
        match self.phase.as_str() {
            "Waiting" => format!("waiting for a KafkaRebalance before draining brokers {b:?}"),
            "Draining" => format!("draining brokers {b:?}: moving their replicas off"),
            "MovingVoters" => format!("moving the controller voters off brokers {b:?}"),
            "Unregistering" => format!("unregistering brokers {b:?}"),
            "Shrinking" => format!("removing brokers {b:?}"),
            other => format!("scale-down: {}", other.to_lowercase()),
        }
    }
}

/// The operator's two-phase upgrade (`status.upgrade` of the KafkaCluster).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeObservation {
    /// Rolling | Finalizing | Done | RolledBack | Refused.
    pub phase: String,
    /// The version being rolled to.
    pub to_version: String,
    /// Brokers that report `to_version`.
    pub on_target: usize,
    /// Brokers reported.
    pub brokers: usize,
    /// The finalized `eddy.version` level.
    pub finalized_level: Option<i16>,
    /// The level the operator finalizes.
    pub target_level: Option<i16>,
    /// What the operator waits for, or why it refused.
    pub message: Option<String>,
}

impl UpgradeObservation {
    /// The operation step the phase stands for (MSK-style progress: rolling broker N of M,
    /// finalizing the level, done).
    pub fn step(&self) -> String {
        match self.phase.as_str() {
            "Rolling" => format!(
                "rolling brokers to {}: {} of {} upgraded",
                self.to_version, self.on_target, self.brokers
            ),
            "Finalizing" => format!(
                "finalizing eddy.version {}",
                self.target_level
                    .map_or_else(|| "?".to_string(), |l| l.to_string())
            ),
            "Done" => format!(
                "every broker runs {} at eddy.version {}",
                self.to_version,
                self.finalized_level
                    .map_or_else(|| "?".to_string(), |l| l.to_string())
            ),
            other => other.to_lowercase(),
        }
    }
}

/// An in-flight operation as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpProgress {
    pub kind: OpKind,
    pub state: OpState,
    /// The KafkaCluster generation the operation's write produced.
    pub target_generation: Option<i64>,
    /// For restarts: the token written to the restart annotation.
    pub restart_token: Option<String>,
    pub started_at: i64,
    /// The last step recorded (a new progress step is recorded only when it differs).
    pub last_step: Option<String>,
}

/// Billing consequence of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingEffect {
    None,
    /// The cluster became active for the first time: open its first segment.
    Open,
    /// A priced change completed: close the open segment and open one with the new price.
    Reopen,
}

/// A step the state machine takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub op_state: OpState,
    pub cluster_state: ClusterState,
    pub step: String,
    pub error: Option<String>,
    pub billing: BillingEffect,
}

/// Advances an operation from an observation at unix second `now`; `None` when nothing changes.
pub fn advance(op: &OpProgress, obs: &Observation, now: i64) -> Option<Outcome> {
    if !op.state.is_active() {
        return None;
    }
    let fail = |error: String| {
        let cluster_state = match op.kind {
            OpKind::Create | OpKind::Delete => ClusterState::Failed,
            _ if obs.ready => ClusterState::Active,
            _ => ClusterState::Failed,
        };
        Some(Outcome {
            op_state: OpState::Failed,
            cluster_state,
            step: "failed".into(),
            error: Some(error),
            billing: BillingEffect::None,
        })
    };
    if op.kind == OpKind::Delete {
        if !obs.exists {
            return Some(Outcome {
                op_state: OpState::Succeeded,
                cluster_state: ClusterState::Deleted,
                step: "resources removed".into(),
                error: None,
                billing: BillingEffect::None,
            });
        }
    } else if !obs.exists {
        return fail("the KafkaCluster resource disappeared".into());
    }
    if let Some(f) = &obs.failure {
        return fail(format!("operator reported: {f}"));
    }
    if now - op.started_at > op.kind.deadline_secs() {
        return fail(format!("timed out after {} s", op.kind.deadline_secs()));
    }
    let observed = match (obs.observed_generation, op.target_generation) {
        (Some(seen), Some(target)) => seen >= target,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    if op.kind == OpKind::Delete || !observed {
        return None;
    }
    if op.kind == OpKind::Upgrade
        && let Some(up) = &obs.upgrade
    {
        return advance_upgrade(op, obs, up);
    }
    if op.kind == OpKind::Resize
        && op.state == OpState::Running
        && let Some(sd) = &obs.scale_down
    {
        let step = sd.step();
        return (op.last_step.as_deref() != Some(step.as_str())).then(|| Outcome {
            op_state: OpState::Running,
            cluster_state: op.kind.cluster_state_while(),
            step,
            error: None,
            billing: BillingEffect::None,
        });
    }
    let done = obs.ready
        && !obs.settling
        && (op.kind != OpKind::Restart
            || (op.restart_token.is_some() && obs.completed_restart == op.restart_token));
    if done {
        let billing = match op.kind {
            OpKind::Create => BillingEffect::Open,
            OpKind::Resize => BillingEffect::Reopen,
            _ => BillingEffect::None,
        };
        return Some(Outcome {
            op_state: OpState::Succeeded,
            cluster_state: ClusterState::Active,
            step: "ready".into(),
            error: None,
            billing,
        });
    }
    if op.state == OpState::Pending {
        return Some(Outcome {
            op_state: OpState::Running,
            cluster_state: op.kind.cluster_state_while(),
            step: "operator reconciling".into(),
            error: None,
            billing: BillingEffect::None,
        });
    }
    None
}

/// An upgrade the operator reports phases for (generation observed): succeeded once every broker
/// runs the new version at the finalized level and the cluster is Ready; failed when refused;
/// otherwise each new phase (rolling progress, finalizing) is recorded as a running step.
fn advance_upgrade(op: &OpProgress, obs: &Observation, up: &UpgradeObservation) -> Option<Outcome> {
    let running = |step: String| Outcome {
        op_state: OpState::Running,
        cluster_state: op.kind.cluster_state_while(),
        step,
        error: None,
        billing: BillingEffect::None,
    };
    match up.phase.as_str() {
        "Refused" => Some(Outcome {
            op_state: OpState::Failed,
            cluster_state: if obs.ready {
                ClusterState::Active
            } else {
                ClusterState::Failed
            },
            step: "failed".into(),
            error: Some(format!(
                "operator refused the upgrade: {}",
                up.message.as_deref().unwrap_or("")
            )),
            billing: BillingEffect::None,
        }),
        "Done" if obs.ready => Some(Outcome {
            op_state: OpState::Succeeded,
            cluster_state: ClusterState::Active,
            step: up.step(),
            error: None,
            billing: BillingEffect::None,
        }),
        _ if op.state == OpState::Pending => Some(running("operator reconciling".into())),
        _ => {
            let step = up.step();
            (op.last_step.as_deref() != Some(step.as_str())).then(|| running(step))
        }
    }
}

/// Whether a downtime interval should open (`Some(true)`), close (`Some(false)`) or stay.
/// Only a cluster that is active with no operation in flight counts as down when not Ready:
/// planned rolls are announced operations, not outages.
pub fn health_change(state: ClusterState, down_now: bool, ready: bool) -> Option<bool> {
    match (state == ClusterState::Active, down_now, ready) {
        (true, false, false) => Some(true),
        (_, true, true) | (false, true, _) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
#[path = "operations_tests.rs"]
mod tests;
