//! Leader election with a coordination.k8s.io/v1 Lease: only the holder reconciles. The
//! decision is pure ([`decide`]); [`LeaderElector`] does the API calls with optimistic
//! concurrency (a conflicting update means someone else won).
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the Lease failed (other than a lost race).
    #[error("updating lease {name}: {source}")]
    Lease {
        /// Lease name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

/// What to do with the Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take it: free, expired or never held.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a live lease.
    Wait,
}

/// Decides from the Lease spec (None: no lease yet) whether `me` may hold it at `now`.
#[must_use]
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == me => Decision::Renew,
        None | Some("") => Decision::Acquire,
        Some(_) => {
            let duration =
                SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
            match spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) {
                Some(renewed) if renewed.0 + duration > now => Decision::Wait,
                _ => Decision::Acquire,
            }
        }
    }
}

/// Holds or waits for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaderElector {
    /// An elector for Lease `namespace/name` as `identity`, leases lasting `duration`.
    #[must_use]
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    /// How often to renew (a third of the lease duration).
    #[must_use]
    pub fn renew_interval(&self) -> Duration {
        self.duration / 3
    }

    fn err(&self, source: kube::Error) -> Error {
        Error::Lease {
            name: self.name.clone(),
            source,
        }
    }

    /// Tries once to acquire or renew; `Ok(true)` while we lead.
    ///
    /// # Errors
    /// API failures other than a conflict (a conflict is a lost race: `Ok(false)`).
    pub async fn try_acquire_or_renew(&self) -> Result<bool, Error> {
        let now = Timestamp::now();
        let existing = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.err(e))?;
        let decision = decide(
            existing.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        if decision == Decision::Wait {
            return Ok(false);
        }
        let secs = i32::try_from(self.duration.as_secs()).unwrap_or(15);
        let mut lease = existing.clone().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            spec: None,
        });
        let mut spec = lease.spec.take().unwrap_or_default();
        if decision == Decision::Acquire {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(secs);
        spec.renew_time = Some(MicroTime(now));
        lease.spec = Some(spec);
        let result = if existing.is_some() {
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
        } else {
            self.api.create(&PostParams::default(), &lease).await
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Gives the lease up so another instance takes over at once (on graceful shutdown).
    ///
    /// # Errors
    /// API failures.
    pub async fn release(&self) -> Result<(), Error> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, renewed: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_or_missing_lease_is_acquired() {
        let now = Timestamp::now();
        assert_eq!(decide(None, "a", now), Decision::Acquire);
        assert_eq!(
            decide(Some(&LeaseSpec::default()), "a", now),
            Decision::Acquire
        );
    }

    #[test]
    fn live_lease_of_another_waits_expired_one_is_taken() {
        let now = Timestamp::now();
        let fresh = held_by("b", now - SignedDuration::from_secs(5));
        assert_eq!(decide(Some(&fresh), "a", now), Decision::Wait);
        let stale = held_by("b", now - SignedDuration::from_secs(16));
        assert_eq!(decide(Some(&stale), "a", now), Decision::Acquire);
        assert_eq!(decide(Some(&fresh), "b", now), Decision::Renew);
    }
}
