//! The quorum's membership as the transport and the admin API carry it: the view of voters,
//! learners and leader, and why a voter change was refused. Shared by `net` (which carries them)
//! and `quorum` (which produces them), so neither imports the other for its types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /v1/cluster/quorum`: the leader (active controller), voters, learners and each member's
/// controller address (`nodes` is keyed by the node id as a string, as JSON objects are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumView {
    pub leader: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub nodes: BTreeMap<String, String>,
}

/// Why a voter change was refused, with the HTTP status the admin API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterError {
    pub status: u16,
    pub reason: String,
}

impl VoterError {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        VoterError {
            status,
            reason: reason.into(),
        }
    }
}
