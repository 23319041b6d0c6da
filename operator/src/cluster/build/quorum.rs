//! The controller quorum of a clustered KafkaCluster, in the KRaft style the broker takes as
//! `--controller-quorum-voters` / `EDDY_CONTROLLER_QUORUM_VOTERS`: `0@host:9095,1@host:9095,...`.
//!
//! The StatefulSet builder passes it as `EDDY_CONTROLLER_QUORUM_VOTERS` with the pods' stable DNS
//! names, which resolve inside every pod (cluster DNS; on localkube the agent's hosts file).
use super::Names;

/// Most voters a cluster gets: a quorum of 3 survives one broker down; more only slows writes.
pub const MAX_VOTERS: i32 = 3;

/// Voters for a cluster of `brokers`: min(N, 3), at least 1.
#[must_use]
pub fn initial_voter_count(brokers: i32) -> i32 {
    brokers.clamp(1, MAX_VOTERS)
}

/// The voter ids wanted for a cluster of `brokers`: the first min(N, 3) ordinals.
#[must_use]
pub fn desired_voters(brokers: i32) -> Vec<i32> {
    (0..initial_voter_count(brokers)).collect()
}

/// Port of the brokers' controller (Raft) listener.
pub const CONTROLLER_PORT: i32 = 9095;

/// `id@host:port` for every voter, ordered by id (duplicates keep the first host).
#[must_use]
pub fn controller_quorum_voters(voters: &[(i32, String)], port: i32) -> String {
    let mut sorted: Vec<&(i32, String)> = voters.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    sorted.dedup_by_key(|(id, _)| *id);
    sorted
        .iter()
        .map(|(id, host)| format!("{id}@{host}:{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The stable DNS name of each broker pod under the headless Service
/// (`<cluster>-broker-<n>.<cluster>-brokers.<namespace>.svc`), for brokers `0..brokers`: what a
/// real Kubernetes cluster resolves before the pods exist.
#[must_use]
pub fn dns_voters(names: &Names, namespace: &str, brokers: i32) -> Vec<(i32, String)> {
    (0..brokers.max(0))
        .map(|n| {
            (
                n,
                format!(
                    "{}.{}.{namespace}.svc",
                    names.pod(n),
                    names.headless_service
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_are_id_at_pod_dns_name_in_id_order() {
        let names = Names::new("prod");
        let v = controller_quorum_voters(&dns_voters(&names, "kafka", 3), CONTROLLER_PORT);
        assert_eq!(
            v,
            "0@prod-broker-0.prod-brokers.kafka.svc:9095,\
             1@prod-broker-1.prod-brokers.kafka.svc:9095,\
             2@prod-broker-2.prod-brokers.kafka.svc:9095"
        );
    }

    #[test]
    fn voters_are_the_first_three_brokers_at_most() {
        assert_eq!(desired_voters(1), vec![0]);
        assert_eq!(desired_voters(2), vec![0, 1]);
        assert_eq!(desired_voters(3), vec![0, 1, 2]);
        assert_eq!(desired_voters(7), vec![0, 1, 2]);
        assert_eq!(initial_voter_count(0), 1);
    }

    #[test]
    fn pod_ip_voters_are_sorted_and_deduplicated() {
        let v = controller_quorum_voters(
            &[
                (2, "127.20.0.4".into()),
                (0, "127.20.0.2".into()),
                (2, "127.20.0.9".into()),
                (1, "127.20.0.3".into()),
            ],
            9095,
        );
        assert_eq!(v, "0@127.20.0.2:9095,1@127.20.0.3:9095,2@127.20.0.4:9095");
        assert_eq!(controller_quorum_voters(&[], 9095), "");
        assert!(dns_voters(&Names::new("c"), "ns", 0).is_empty());
    }
}
