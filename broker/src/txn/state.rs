//! The transaction state machine of one transactional id (KIP-98), pure: what each
//! coordinator request does to the persisted metadata, decided before any I/O.
//!
//! Empty/Complete* --AddPartitions/AddOffsets--> Ongoing --EndTxn--> Prepare{Commit,Abort}
//! --markers written--> Complete{Commit,Abort}. InitProducerId bumps the epoch (fencing
//! the previous producer) and first aborts an ongoing transaction; a timed-out transaction is
//! aborted under a bumped epoch, so its producer's late writes are fenced.
//!
//! Transaction version 2 (KIP-890 part 2, EndTxn v5+): every EndTxn bumps the epoch at PREPARE,
//! the markers carry the bumped epoch (so a late write of the finished transaction is fenced at
//! the partition), and the answer hands the producer its next epoch; at the last epoch a new
//! producer id is allocated (`next_producer_id`) and taken at COMPLETE. A retried EndTxn is
//! recognised by its epoch being one below the current one and answered, never applied twice.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Kafka's transaction states (DescribeTransactions and ListTransactions name them so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// The state Kafka names `name` (DescribeTransactions' answer).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            TxnState::Empty,
            TxnState::Ongoing,
            TxnState::PrepareCommit,
            TxnState::PrepareAbort,
            TxnState::CompleteCommit,
            TxnState::CompleteAbort,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// A consumer offset committed inside a transaction (TxnOffsetCommit): visible to OffsetFetch
/// only once the transaction commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// What the coordinator persists for one transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last bump (-1: none): a producer retrying InitProducerId with it
    /// (KIP-360) is not fenced.
    pub last_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    pub offsets: Vec<PendingOffset>,
    /// When the ongoing transaction began (its timeout counts from here).
    pub start_ms: i64,
    pub update_ms: i64,
    /// Transaction version 2: the producer id the transaction moves to at COMPLETE because
    /// its epochs are exhausted (-1: none), chosen before PREPARE is persisted.
    #[serde(default = "no_producer_id")]
    pub next_producer_id: i64,
    /// Transaction version 2: the producer id before the last move to `next_producer_id` (-1:
    /// none), so a retried EndTxn of the last epoch is recognised.
    #[serde(default = "no_producer_id")]
    pub previous_producer_id: i64,
}

fn no_producer_id() -> i64 {
    -1
}

/// The highest epoch a producer id reaches; the EndTxn that would go past it moves the
/// transactional id to a new producer id (Kafka's `isProducerEpochExhausted`: `Short.MAX - 1`).
pub const LAST_EPOCH: i16 = i16::MAX - 1;

/// What EndTxn v5+ (transaction version 2) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndV2 {
    /// Persist this Prepare* metadata (its epoch bumped), write its markers, complete it.
    Prepare(TxnMetadata),
    /// A retry of the EndTxn that completed the last transaction: answer the current
    /// producer id and epoch, change nothing.
    Retried,
}

/// Why a coordinator request is refused; `handlers/errors.rs` picks the Kafka code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("the producer id does not match the transactional id's")]
    InvalidProducerIdMapping,
    #[error("the producer has been fenced by a newer producer with the same transactional id")]
    ProducerFenced,
    #[error("the producer epoch is not the transactional id's current one")]
    InvalidProducerEpoch,
    #[error("another operation on this transaction is completing; retry")]
    ConcurrentTransactions,
    #[error("the request does not fit the transaction's state")]
    InvalidTxnState,
    #[error("the transaction timeout is larger than transaction.max.timeout.ms")]
    InvalidTransactionTimeout,
    #[error("the transaction coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("this operation is not supported in cluster mode yet")]
    Unsupported,
    #[error("this broker is not the transactional id's coordinator")]
    NotCoordinator,
    #[error("the coordinator is loading the transactional id's state")]
    CoordinatorLoadInProgress,
    #[error("the transaction state could not be persisted")]
    Storage,
}

/// What InitProducerId does for a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitDecision {
    /// A new producer id at epoch 0 (new transactional id, or its epochs are exhausted).
    Allocate,
    /// Keep the producer id at this epoch.
    Bump(i16),
    /// Answer the current id and epoch unchanged (a retried KIP-360 InitProducerId).
    Current,
    /// Abort the ongoing transaction (fencing its producer) first, then decide again.
    AbortFirst,
    Refuse(TxnError),
}

/// InitProducerId: `meta` is the id's metadata, (`pid`, `epoch`) what the producer sent
/// (-1/-1 for a new producer, its current ones for KIP-360 recovery).
pub fn decide_init(meta: Option<&TxnMetadata>, pid: i64, epoch: i16) -> InitDecision {
    let Some(m) = meta else {
        return InitDecision::Allocate;
    };
    if m.state.is_prepare() {
        return InitDecision::Refuse(TxnError::ConcurrentTransactions);
    }
    if pid != -1 {
        if pid != m.producer_id {
            return InitDecision::Refuse(TxnError::ProducerFenced);
        }
        if epoch == m.last_epoch && m.last_epoch != m.epoch && m.state != TxnState::Ongoing {
            return InitDecision::Current;
        }
        if epoch != m.epoch {
            return InitDecision::Refuse(TxnError::ProducerFenced);
        }
    }
    if m.state == TxnState::Ongoing {
        return InitDecision::AbortFirst;
    }
    if m.epoch >= i16::MAX - 1 {
        InitDecision::Allocate
    } else {
        InitDecision::Bump(m.epoch + 1)
    }
}

impl TxnMetadata {
    /// A new transactional id's metadata.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            epoch: 0,
            last_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            offsets: Vec::new(),
            start_ms: -1,
            update_ms: now,
            next_producer_id: -1,
            previous_producer_id: -1,
        }
    }

    /// The producer's id and epoch are this transactional id's current ones.
    pub fn check_producer(&self, pid: i64, epoch: i16) -> Result<(), TxnError> {
        if pid != self.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if epoch < self.epoch {
            return Err(TxnError::ProducerFenced);
        }
        if epoch > self.epoch {
            return Err(TxnError::InvalidProducerEpoch);
        }
        Ok(())
    }

    /// The epoch bump of InitProducerId (the previous producer is fenced).
    pub fn bumped(&self, epoch: i16, timeout_ms: i32, now: i64) -> Self {
        TxnMetadata {
            last_epoch: self.epoch,
            epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            offsets: Vec::new(),
            start_ms: -1,
            update_ms: now,
            ..self.clone()
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the metadata with `partitions` and `groups` in
    /// the (possibly new) ongoing transaction; `None` when nothing changes.
    pub fn add(
        &self,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        groups: &[String],
        now: i64,
    ) -> Result<Option<Self>, TxnError> {
        self.check_producer(pid, epoch)?;
        let mut next = match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(TxnError::ConcurrentTransactions);
            }
            TxnState::Ongoing => self.clone(),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => TxnMetadata {
                state: TxnState::Ongoing,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
                offsets: Vec::new(),
                start_ms: now,
                ..self.clone()
            },
        };
        let before = (next.partitions.len(), next.groups.len());
        next.partitions.extend(partitions.iter().cloned());
        next.groups.extend(groups.iter().cloned());
        if self.state == TxnState::Ongoing && before == (next.partitions.len(), next.groups.len()) {
            return Ok(None);
        }
        next.update_ms = now;
        Ok(Some(next))
    }

    /// TxnOffsetCommit: the metadata with `offsets` pending in the ongoing transaction (the
    /// group must have been added with AddOffsetsToTxn).
    pub fn add_offsets(
        &self,
        pid: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<PendingOffset>,
        now: i64,
    ) -> Result<Self, TxnError> {
        self.check_producer(pid, epoch)?;
        if self.state.is_prepare() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if self.state != TxnState::Ongoing || !self.groups.contains(group) {
            return Err(TxnError::InvalidTxnState);
        }
        let mut next = self.clone();
        for o in offsets {
            next.offsets.retain(|p| {
                !(p.group == o.group && p.topic == o.topic && p.partition == o.partition)
            });
            next.offsets.push(o);
        }
        next.update_ms = now;
        Ok(next)
    }

    /// EndTxn: the Prepare* metadata to persist before the markers (`Ok(None)`: a retry of an
    /// EndTxn already completed, answered with success).
    pub fn end(
        &self,
        pid: i64,
        epoch: i16,
        commit: bool,
        now: i64,
    ) -> Result<Option<Self>, TxnError> {
        self.check_producer(pid, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => Ok(Some(self.prepare(commit, now))),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(TxnError::ConcurrentTransactions)
            }
            _ => Err(TxnError::InvalidTxnState),
        }
    }

    /// EndTxn v5+ (transaction version 2, Kafka 4's rules): the epoch is bumped at PREPARE;
    /// `next_pid` is a freshly allocated producer id, needed (and used) only when the epoch is
    /// exhausted ([`Self::needs_new_producer_id`]). A retry (the request's epoch is the one
    /// before the bump, or the last epoch of the previous producer id) of the completed
    /// decision is answered as done; an abort with nothing ongoing still bumps the epoch.
    pub fn end_v2(
        &self,
        pid: i64,
        epoch: i16,
        commit: bool,
        next_pid: i64,
        now: i64,
    ) -> Result<EndV2, TxnError> {
        let retry_on_overflow = self.previous_producer_id == pid
            && pid != self.producer_id
            && epoch == LAST_EPOCH
            && self.epoch == 0;
        let retry_on_bump =
            pid == self.producer_id && i32::from(self.epoch) == i32::from(epoch) + 1;
        if pid != self.producer_id && !retry_on_overflow {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        let retry = retry_on_bump || retry_on_overflow;
        let valid_epoch = match self.state {
            TxnState::Ongoing | TxnState::Empty => epoch == self.epoch,
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => retry || epoch == self.epoch,
        };
        if !valid_epoch {
            return Err(TxnError::ProducerFenced);
        }
        let prepare = || {
            let mut next = self.prepare(commit, now);
            next.last_epoch = self.epoch;
            if self.needs_new_producer_id() {
                // The markers go out at the last epoch + 1 of the old id; COMPLETE moves on.
                next.epoch = i16::MAX;
                next.next_producer_id = next_pid;
            } else {
                next.epoch = self.epoch + 1;
            }
            if self.state != TxnState::Ongoing {
                // An abort with nothing added: no partitions, the clock starts now.
                next.partitions.clear();
                next.groups.clear();
                next.offsets.clear();
                next.start_ms = now;
            }
            EndV2::Prepare(next)
        };
        match (self.state, commit) {
            (TxnState::Ongoing, _) => Ok(prepare()),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if retry => {
                Ok(EndV2::Retried)
            }
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false)
                if !retry =>
            {
                Ok(prepare())
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(TxnError::ConcurrentTransactions)
            }
            _ => Err(TxnError::InvalidTxnState),
        }
    }

    /// Whether the next epoch bump of EndTxn v5+ must move to a new producer id.
    pub fn needs_new_producer_id(&self) -> bool {
        self.epoch >= LAST_EPOCH
    }

    fn prepare(&self, commit: bool, now: i64) -> Self {
        TxnMetadata {
            state: if commit {
                TxnState::PrepareCommit
            } else {
                TxnState::PrepareAbort
            },
            update_ms: now,
            ..self.clone()
        }
    }

    /// The abort of a transaction the coordinator ends itself (timeout, or InitProducerId of a
    /// new producer): under a bumped epoch, so that the old producer is fenced.
    pub fn fenced_abort(&self, now: i64) -> Self {
        TxnMetadata {
            last_epoch: self.epoch,
            epoch: self.epoch.saturating_add(1),
            ..self.prepare(false, now)
        }
    }

    /// After every marker is written: Complete*, with the partitions and offsets forgotten
    /// (and, transaction version 2 at the last epoch, the new producer id at epoch 0).
    pub fn completed(&self, now: i64) -> Self {
        let moved = (self.next_producer_id >= 0).then(|| TxnMetadata {
            producer_id: self.next_producer_id,
            epoch: 0,
            last_epoch: LAST_EPOCH,
            previous_producer_id: self.producer_id,
            next_producer_id: -1,
            ..self.clone()
        });
        let base = moved.as_ref().unwrap_or(self);
        TxnMetadata {
            state: if self.state == TxnState::PrepareCommit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            },
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            offsets: Vec::new(),
            update_ms: now,
            ..base.clone()
        }
    }

    /// Whether the ongoing transaction ran past its timeout at `now`.
    pub fn timed_out(&self, now: i64) -> bool {
        self.state == TxnState::Ongoing && now > self.start_ms + i64::from(self.timeout_ms)
    }

    /// Whether the id may be forgotten (`transactional.id.expiration.ms`): no transaction is
    /// open or being completed, and its last change is at least `expiration_ms` old.
    pub fn expired(&self, now: i64, expiration_ms: i64) -> bool {
        matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && now.saturating_sub(self.update_ms) >= expiration_ms
    }

    /// Whether the markers are written under the commit type.
    pub fn committing(&self) -> bool {
        self.state == TxnState::PrepareCommit
    }

    /// Whether the coordinator must still write markers and complete it.
    pub fn preparing(&self) -> bool {
        self.state.is_prepare()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idle_ids_expire_after_their_last_change() {
        let m = TxnMetadata::new("t", 1, 60_000, 1_000);
        assert!(!m.expired(1_999, 1_000));
        assert!(m.expired(2_000, 1_000));
        let mut open = m.clone();
        open.state = TxnState::Ongoing;
        assert!(!open.expired(i64::MAX, 1_000));
        let mut prep = m.clone();
        prep.state = TxnState::PrepareCommit;
        assert!(!prep.expired(i64::MAX, 1_000));
        let mut done = m;
        done.state = TxnState::CompleteAbort;
        assert!(done.expired(2_000, 1_000));
    }

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    #[test]
    fn a_new_id_allocates_and_later_inits_bump_and_fence() {
        assert_eq!(decide_init(None, -1, -1), InitDecision::Allocate);
        let m = TxnMetadata::new("t", 5, 60_000, 0);
        assert_eq!(decide_init(Some(&m), -1, -1), InitDecision::Bump(1));
        let b = m.bumped(1, 60_000, 1);
        assert_eq!((b.epoch, b.last_epoch), (1, 0));
        // The old producer (epoch 0) is fenced from the coordinator's APIs.
        assert_eq!(
            b.add(5, 0, &[tp("a", 0)], &[], 2),
            Err(TxnError::ProducerFenced)
        );
        assert_eq!(
            b.add(6, 1, &[tp("a", 0)], &[], 2),
            Err(TxnError::InvalidProducerIdMapping)
        );
        // KIP-360: a retry with the previous epoch answers the current one; a wrong one fences.
        assert_eq!(decide_init(Some(&b), 5, 0), InitDecision::Current);
        assert_eq!(decide_init(Some(&b), 5, 1), InitDecision::Bump(2));
        assert_eq!(
            decide_init(Some(&b), 9, 1),
            InitDecision::Refuse(TxnError::ProducerFenced)
        );
        let exhausted = m.bumped(i16::MAX - 1, 60_000, 1);
        assert_eq!(
            decide_init(Some(&exhausted), -1, -1),
            InitDecision::Allocate
        );
    }

    #[test]
    fn commit_goes_through_prepare_and_complete_and_retries_succeed() {
        let m = TxnMetadata::new("t", 5, 60_000, 0);
        let on = m
            .add(5, 0, &[tp("a", 0), tp("a", 1)], &[], 10)
            .unwrap()
            .unwrap();
        assert_eq!((on.state, on.start_ms), (TxnState::Ongoing, 10));
        assert_eq!(on.add(5, 0, &[tp("a", 1)], &[], 11).unwrap(), None);
        assert_eq!(decide_init(Some(&on), -1, -1), InitDecision::AbortFirst);
        let prep = on.end(5, 0, true, 12).unwrap().unwrap();
        assert!(prep.committing() && prep.preparing());
        assert_eq!(
            prep.add(5, 0, &[], &[], 13),
            Err(TxnError::ConcurrentTransactions)
        );
        assert_eq!(
            prep.end(5, 0, true, 13),
            Err(TxnError::ConcurrentTransactions)
        );
        assert_eq!(
            decide_init(Some(&prep), -1, -1),
            InitDecision::Refuse(TxnError::ConcurrentTransactions)
        );
        let done = prep.completed(14);
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert!(done.partitions.is_empty());
        assert_eq!(done.end(5, 0, true, 15), Ok(None));
        assert_eq!(done.end(5, 0, false, 15), Err(TxnError::InvalidTxnState));
        // The next transaction starts afresh.
        let next = done.add(5, 0, &[tp("b", 0)], &[], 20).unwrap().unwrap();
        assert_eq!(next.partitions.len(), 1);
        assert_eq!(next.start_ms, 20);
    }

    #[test]
    fn offsets_need_the_group_added_and_timeouts_abort_under_a_bumped_epoch() {
        let m = TxnMetadata::new("t", 5, 1_000, 0);
        let o = PendingOffset {
            group: "g".into(),
            topic: "a".into(),
            partition: 0,
            offset: 7,
            leader_epoch: -1,
            metadata: None,
        };
        assert_eq!(
            m.add_offsets(5, 0, "g", vec![o.clone()], 1),
            Err(TxnError::InvalidTxnState)
        );
        let on = m.add(5, 0, &[], &["g".into()], 1).unwrap().unwrap();
        let with = on.add_offsets(5, 0, "g", vec![o.clone()], 2).unwrap();
        let again = with
            .add_offsets(5, 0, "g", vec![PendingOffset { offset: 9, ..o }], 3)
            .unwrap();
        assert_eq!(again.offsets.len(), 1);
        assert_eq!(again.offsets[0].offset, 9);
        assert!(!again.timed_out(1_001));
        assert!(again.timed_out(1_002));
        let aborting = again.fenced_abort(1_002);
        assert_eq!(
            (aborting.state, aborting.epoch, aborting.last_epoch),
            (TxnState::PrepareAbort, 1, 0)
        );
        assert_eq!(aborting.completed(1_003).state, TxnState::CompleteAbort);
        // The fenced producer's EndTxn is refused.
        assert_eq!(
            aborting.completed(1_003).end(5, 0, true, 1_004),
            Err(TxnError::ProducerFenced)
        );
    }

    #[test]
    fn tv2_end_bumps_the_epoch_every_time_and_retries_answer_without_bumping() {
        let m = TxnMetadata::new("t", 5, 60_000, 0);
        let on = m.add(5, 0, &[tp("a", 0)], &[], 1).unwrap().unwrap();
        let EndV2::Prepare(prep) = on.end_v2(5, 0, true, -1, 2).unwrap() else {
            panic!("expected a prepare");
        };
        assert_eq!(
            (prep.state, prep.epoch, prep.last_epoch),
            (TxnState::PrepareCommit, 1, 0)
        );
        assert_eq!(prep.partitions.len(), 1);
        // A retry while the markers are written: retry later.
        assert_eq!(
            prep.end_v2(5, 0, true, -1, 3),
            Err(TxnError::ConcurrentTransactions)
        );
        let done = prep.completed(4);
        assert_eq!(
            (done.state, done.producer_id, done.epoch),
            (TxnState::CompleteCommit, 5, 1)
        );
        // The retried EndTxn (old epoch) is answered, nothing changes; the other outcome is not.
        assert_eq!(done.end_v2(5, 0, true, -1, 5), Ok(EndV2::Retried));
        assert_eq!(
            done.end_v2(5, 0, false, -1, 5),
            Err(TxnError::InvalidTxnState)
        );
        // The old epoch cannot add partitions: the next transaction is the new epoch's.
        assert_eq!(
            done.add(5, 0, &[tp("a", 0)], &[], 6),
            Err(TxnError::ProducerFenced)
        );
        // Older than the retry epoch: fenced.
        let next = done.add(5, 1, &[tp("a", 0)], &[], 6).unwrap().unwrap();
        let EndV2::Prepare(p2) = next.end_v2(5, 1, false, -1, 7).unwrap() else {
            panic!("expected a prepare");
        };
        let done2 = p2.completed(8);
        assert_eq!(done2.epoch, 2);
        assert_eq!(
            done2.end_v2(5, 0, false, -1, 9),
            Err(TxnError::ProducerFenced)
        );
        // An abort with nothing ongoing still bumps; a commit of nothing is refused.
        let EndV2::Prepare(empty_abort) = done2.end_v2(5, 2, false, -1, 10).unwrap() else {
            panic!("expected a prepare");
        };
        assert_eq!((empty_abort.epoch, empty_abort.partitions.len()), (3, 0));
        assert_eq!(
            done2.end_v2(5, 2, true, -1, 10),
            Err(TxnError::InvalidTxnState)
        );
        assert_eq!(
            done2.end_v2(6, 2, true, -1, 10),
            Err(TxnError::InvalidProducerIdMapping)
        );
    }

    #[test]
    fn tv2_end_at_the_last_epoch_moves_to_a_new_producer_id() {
        let m = TxnMetadata::new("t", 5, 60_000, 0).bumped(LAST_EPOCH, 60_000, 0);
        assert!(m.needs_new_producer_id());
        let on = m
            .add(5, LAST_EPOCH, &[tp("a", 0)], &[], 1)
            .unwrap()
            .unwrap();
        let EndV2::Prepare(prep) = on.end_v2(5, LAST_EPOCH, true, 9, 2).unwrap() else {
            panic!("expected a prepare");
        };
        // The markers go out under the old id at the epoch past the last.
        assert_eq!(
            (prep.producer_id, prep.epoch, prep.next_producer_id),
            (5, i16::MAX, 9)
        );
        let done = prep.completed(3);
        assert_eq!(
            (
                done.producer_id,
                done.epoch,
                done.previous_producer_id,
                done.next_producer_id
            ),
            (9, 0, 5, -1)
        );
        // The client's retry (old id, last epoch) is recognised.
        assert_eq!(done.end_v2(5, LAST_EPOCH, true, -1, 4), Ok(EndV2::Retried));
        assert_eq!(
            done.end_v2(5, LAST_EPOCH - 1, true, -1, 4),
            Err(TxnError::InvalidProducerIdMapping)
        );
        // The new id starts its next transaction at epoch 0.
        assert!(done.add(9, 0, &[tp("a", 0)], &[], 5).unwrap().is_some());
    }
}
