//! Condition bookkeeping (pure): set a condition keeping its transition time while its status
//! holds, so `lastTransitionTime` means what Kubernetes users expect.
use crate::crd::{Condition, ConditionStatus};

/// Builds a condition for `generation`.
#[must_use]
pub fn condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.into(),
        last_transition_time: None,
        observed_generation: generation,
    }
}

/// Replaces or adds `new` in `conditions`. The transition time is `now` when the status changed
/// (or the condition is new), and the previous one otherwise.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: &str) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            new.last_transition_time = if old.status == new.status {
                old.last_transition_time
                    .clone()
                    .or_else(|| Some(now.to_string()))
            } else {
                Some(now.to_string())
            };
            *old = new;
        }
        None => {
            new.last_transition_time = Some(now.to_string());
            conditions.push(new);
        }
    }
}

/// Current time as RFC 3339, for condition transition times.
#[must_use]
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::condition_type::READY;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut cs = Vec::new();
        set_condition(
            &mut cs,
            condition(READY, ConditionStatus::False, "A", "", Some(1)),
            "t1",
        );
        set_condition(
            &mut cs,
            condition(READY, ConditionStatus::False, "B", "", Some(2)),
            "t2",
        );
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].reason, "B");
        assert_eq!(cs[0].last_transition_time.as_deref(), Some("t1"));
        set_condition(
            &mut cs,
            condition(READY, ConditionStatus::True, "C", "", Some(2)),
            "t3",
        );
        assert_eq!(cs[0].last_transition_time.as_deref(), Some("t3"));
    }
}
