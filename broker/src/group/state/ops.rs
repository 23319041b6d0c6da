//! The operations of the classic group state machine (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, offset-commit validation, timers), mirroring Kafka's classic coordinator.

use super::{
    Answer, Effect, Group, GroupError, GroupState, InitialDelay, JoinMember, JoinRequest,
    JoinResult, Limits, Member, SyncResult,
};

type JoinOutcome = (Answer<JoinResult>, Vec<Effect>);

impl Group {
    /// JoinGroup. `fresh_id` is the member id to hand out if the member has none yet.
    pub fn join(
        &mut self,
        req: JoinRequest,
        fresh_id: String,
        skip_assignment_supported: bool,
        now: i64,
        limits: &Limits,
    ) -> JoinOutcome {
        let now_err = |id: &str, e| (Answer::Now(JoinResult::error(id, e)), Vec::new());
        if self.state == GroupState::Dead {
            return now_err(&req.member_id, GroupError::CoordinatorNotAvailable);
        }
        if req.session_timeout_ms < limits.min_session_timeout_ms
            || req.session_timeout_ms > limits.max_session_timeout_ms
        {
            return now_err(&req.member_id, GroupError::InvalidSessionTimeout);
        }
        if !self.supports(&req.protocol_type, &req.protocols) {
            return now_err(&req.member_id, GroupError::InconsistentProtocol);
        }
        let mut fx = Vec::new();
        if req.member_id.is_empty() {
            let id = fresh_id;
            if let Some(inst) = req.group_instance_id.clone() {
                if let Some(old) = self.static_members.get(&inst).cloned() {
                    let a = self.replace_static_member(
                        &old,
                        &id,
                        req,
                        skip_assignment_supported,
                        now,
                        limits,
                        &mut fx,
                    );
                    return (a, fx);
                }
            } else if req.require_known_member_id {
                self.pending_members
                    .insert(id.clone(), now + i64::from(req.session_timeout_ms));
                return now_err(&id, GroupError::MemberIdRequired);
            }
            self.add_member_and_rebalance(&id, req, now, limits, &mut fx);
            return (Answer::Later { member_id: id }, fx);
        }
        let id = req.member_id.clone();
        if self.pending_members.remove(&id).is_some() {
            self.add_member_and_rebalance(&id, req, now, limits, &mut fx);
            return (Answer::Later { member_id: id }, fx);
        }
        if let Err(e) = self.check_member(&id, req.group_instance_id.as_deref()) {
            return now_err(&id, e);
        }
        let unchanged = self
            .members
            .get(&id)
            .is_some_and(|m| m.protocols == req.protocols);
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(&id, req, now, limits, &mut fx);
                (Answer::Later { member_id: id }, fx)
            }
            GroupState::CompletingRebalance if unchanged => {
                // It probably missed the join answer: resend the current generation's.
                (Answer::Now(self.current_join_result(&id, false)), fx)
            }
            GroupState::Stable if unchanged && !self.is_leader(&id) => {
                (Answer::Now(self.current_join_result(&id, false)), fx)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&id, req, now, limits, &mut fx);
                (Answer::Later { member_id: id }, fx)
            }
            GroupState::Empty | GroupState::Dead => now_err(&id, GroupError::UnknownMember),
        }
    }

    /// Fenced static member, unknown member: the checks every member request starts with.
    fn check_member(&self, member_id: &str, instance: Option<&str>) -> Result<(), GroupError> {
        if let Some(inst) = instance
            && self
                .static_members
                .get(inst)
                .is_some_and(|id| id != member_id)
        {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMember);
        }
        Ok(())
    }

    fn check_generation(
        &self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        self.check_member(member_id, instance)?;
        if generation != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// The join answer for the current generation (leader gets the member list).
    pub fn current_join_result(&self, member_id: &str, skip_assignment: bool) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if self.is_leader(member_id) {
            self.members
                .values()
                .map(|m| JoinMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(&protocol).unwrap_or_default().to_vec(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            member_id: member_id.to_string(),
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment,
            members,
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        id: &str,
        req: JoinRequest,
        now: i64,
        limits: &Limits,
        fx: &mut Vec<Effect>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(inst) = &req.group_instance_id {
            self.static_members.insert(inst.clone(), id.to_string());
        }
        self.members.insert(
            id.to_string(),
            Member {
                member_id: id.to_string(),
                group_instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                session_timeout_ms: req.session_timeout_ms,
                protocol_type: req.protocol_type,
                protocols: req.protocols,
                assignment: Vec::new(),
                awaiting_join: true,
                awaiting_sync: false,
                last_heartbeat_ms: now,
            },
        );
        if self.leader.is_none() {
            self.leader = Some(id.to_string());
        }
        if let Some(d) = &mut self.initial_delay {
            d.member_joined = true;
        }
        self.maybe_prepare_rebalance(now, limits, fx);
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: JoinRequest,
        now: i64,
        limits: &Limits,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(m) = self.members.get_mut(id) {
            m.protocols = req.protocols;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.session_timeout_ms = req.session_timeout_ms;
            m.client_id = req.client_id;
            m.client_host = req.client_host;
            m.awaiting_join = true;
            m.last_heartbeat_ms = now;
        }
        self.maybe_prepare_rebalance(now, limits, fx);
    }

    /// A static member came back with a new member id: it takes over the old member's place
    /// (and assignment). In a stable group whose protocol does not change, there is no rebalance.
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        old: &str,
        new: &str,
        req: JoinRequest,
        skip_assignment_supported: bool,
        now: i64,
        limits: &Limits,
        fx: &mut Vec<Effect>,
    ) -> Answer<JoinResult> {
        let Some(mut m) = self.members.shift_remove(old) else {
            return Answer::Now(JoinResult::error(new, GroupError::UnknownMember));
        };
        if m.awaiting_join {
            fx.push(Effect::Join {
                member_id: old.to_string(),
                result: JoinResult::error(old, GroupError::FencedInstanceId),
            });
        }
        if m.awaiting_sync {
            fx.push(Effect::Sync {
                member_id: old.to_string(),
                result: SyncResult::error(GroupError::FencedInstanceId),
            });
        }
        let old_leader = self.leader.clone().unwrap_or_default();
        if self.is_leader(old) {
            self.leader = Some(new.to_string());
        }
        m.member_id = new.to_string();
        m.protocols = req.protocols;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        m.client_id = req.client_id;
        m.client_host = req.client_host;
        m.last_heartbeat_ms = now;
        m.awaiting_join = false;
        m.awaiting_sync = false;
        if let Some(inst) = &m.group_instance_id {
            self.static_members.insert(inst.clone(), new.to_string());
        }
        self.members.insert(new.to_string(), m);
        match self.state {
            GroupState::Stable if self.select_protocol() == self.protocol_name => {
                fx.push(Effect::Persist);
                if skip_assignment_supported {
                    let leader = self.is_leader(new);
                    Answer::Now(self.current_join_result(new, leader))
                } else {
                    // Older clients: answer with the previous leader id so that a returning
                    // leader does not compute an assignment a stable group would not send.
                    let mut r = self.current_join_result(new, false);
                    r.leader = old_leader;
                    r.members.clear();
                    Answer::Now(r)
                }
            }
            _ => {
                if let Some(m) = self.members.get_mut(new) {
                    m.awaiting_join = true;
                }
                if self.state == GroupState::CompletingRebalance {
                    // The leader may already assign to the old member id: start over.
                    self.prepare_rebalance(now, limits, fx);
                }
                self.maybe_prepare_rebalance(now, limits, fx);
                Answer::Later {
                    member_id: new.to_string(),
                }
            }
        }
    }

    fn maybe_prepare_rebalance(&mut self, now: i64, limits: &Limits, fx: &mut Vec<Effect>) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now, limits, fx);
        }
        self.try_complete_join(now, fx);
    }

    pub(super) fn prepare_rebalance(&mut self, now: i64, limits: &Limits, fx: &mut Vec<Effect>) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment.clear();
                if m.awaiting_sync {
                    m.awaiting_sync = false;
                    fx.push(Effect::Sync {
                        member_id: m.member_id.clone(),
                        result: SyncResult::error(GroupError::RebalanceInProgress),
                    });
                }
            }
        }
        let timeout = self.rebalance_timeout_ms();
        let delay = i64::from(limits.initial_rebalance_delay_ms);
        if self.state == GroupState::Empty && delay > 0 {
            self.initial_delay = Some(InitialDelay {
                max_ms: timeout,
                started_ms: now,
                member_joined: false,
            });
            self.join_deadline_ms = Some(now + delay.min(timeout));
        } else {
            self.initial_delay = None;
            self.join_deadline_ms = Some(now + timeout);
        }
        self.state = GroupState::PreparingRebalance;
    }

    fn try_complete_join(&mut self, now: i64, fx: &mut Vec<Effect>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_joined()
        {
            self.complete_join(now, fx);
        }
    }

    /// Ends PreparingRebalance: members that did not rejoin are dropped, a new generation
    /// starts and every waiting JoinGroup is answered.
    fn complete_join(&mut self, now: i64, fx: &mut Vec<Effect>) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, fx);
        }
        self.join_deadline_ms = None;
        self.initial_delay = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            fx.push(Effect::Persist);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.current_join_result(&id, false);
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.last_heartbeat_ms = now;
            }
            fx.push(Effect::Join {
                member_id: id,
                result,
            });
        }
    }

    /// Drops a member, answering its waiting requests with UNKNOWN_MEMBER_ID.
    fn remove_member(&mut self, id: &str, fx: &mut Vec<Effect>) {
        let Some(m) = self.members.shift_remove(id) else {
            return;
        };
        if let Some(inst) = &m.group_instance_id
            && self.static_members.get(inst).is_some_and(|x| x == id)
        {
            self.static_members.remove(inst);
        }
        if m.awaiting_join {
            fx.push(Effect::Join {
                member_id: id.to_string(),
                result: JoinResult::error(id, GroupError::UnknownMember),
            });
        }
        if m.awaiting_sync {
            fx.push(Effect::Sync {
                member_id: id.to_string(),
                result: SyncResult::error(GroupError::UnknownMember),
            });
        }
        if self.is_leader(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }

    fn remove_member_and_update(
        &mut self,
        id: &str,
        now: i64,
        limits: &Limits,
        fx: &mut Vec<Effect>,
    ) {
        self.remove_member(id, fx);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, limits, fx);
                self.try_complete_join(now, fx);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, fx),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// SyncGroup. `assignments` is what the leader computed (ignored for followers).
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Vec<u8>)>,
        now: i64,
    ) -> (Answer<SyncResult>, Vec<Effect>) {
        let mut fx = Vec::new();
        let err = |e| (Answer::Now(SyncResult::error(e)), Vec::new());
        if self.state == GroupState::Dead {
            return err(GroupError::CoordinatorNotAvailable);
        }
        if let Err(e) = self.check_generation(member_id, instance, generation) {
            return err(e);
        }
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return err(GroupError::InconsistentProtocol);
        }
        let ok = |g: &Group, assignment: Vec<u8>| SyncResult {
            error: None,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            assignment,
        };
        match self.state {
            GroupState::Empty | GroupState::Dead => err(GroupError::UnknownMember),
            GroupState::PreparingRebalance => err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let m = &mut self.members[member_id];
                m.last_heartbeat_ms = now;
                let a = m.assignment.clone();
                (Answer::Now(ok(self, a)), fx)
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.awaiting_sync = true;
                    m.last_heartbeat_ms = now;
                }
                if !self.is_leader(member_id) {
                    return (
                        Answer::Later {
                            member_id: member_id.to_string(),
                        },
                        fx,
                    );
                }
                let mut given: std::collections::HashMap<String, Vec<u8>> =
                    assignments.into_iter().collect();
                for m in self.members.values_mut() {
                    m.assignment = given.remove(&m.member_id).unwrap_or_default();
                }
                self.state = GroupState::Stable;
                fx.push(Effect::Persist);
                let mut own = None;
                let waiting: Vec<String> = self
                    .members
                    .values()
                    .filter(|m| m.awaiting_sync)
                    .map(|m| m.member_id.clone())
                    .collect();
                for id in waiting {
                    let a = self.members[&id].assignment.clone();
                    let r = ok(self, a);
                    if let Some(m) = self.members.get_mut(&id) {
                        m.awaiting_sync = false;
                    }
                    if id == member_id {
                        own = Some(r);
                    } else {
                        fx.push(Effect::Sync {
                            member_id: id,
                            result: r,
                        });
                    }
                }
                let own = own.unwrap_or_else(|| ok(self, Vec::new()));
                (Answer::Now(own), fx)
            }
        }
    }

    /// Heartbeat: refreshes the member's session; tells it about a rebalance.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => return Err(GroupError::CoordinatorNotAvailable),
            GroupState::Empty => return Err(GroupError::UnknownMember),
            _ => {}
        }
        self.check_generation(member_id, instance, generation)?;
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now;
        }
        if self.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup for a batch of (member id, group.instance.id); one result per member.
    pub fn leave(
        &mut self,
        leaving: &[(String, Option<String>)],
        now: i64,
        limits: &Limits,
    ) -> (Vec<Result<(), GroupError>>, Vec<Effect>) {
        let mut fx = Vec::new();
        let mut out = Vec::with_capacity(leaving.len());
        for (member_id, instance) in leaving {
            let r = if let Some(inst) = instance {
                match self.static_members.get(inst).cloned() {
                    None => Err(GroupError::UnknownMember),
                    Some(id) if !member_id.is_empty() && &id != member_id => {
                        Err(GroupError::FencedInstanceId)
                    }
                    Some(id) => {
                        self.remove_member_and_update(&id, now, limits, &mut fx);
                        Ok(())
                    }
                }
            } else if self.pending_members.remove(member_id).is_some() {
                self.try_complete_join(now, &mut fx);
                Ok(())
            } else if self.members.contains_key(member_id) {
                self.remove_member_and_update(member_id, now, limits, &mut fx);
                Ok(())
            } else {
                Err(GroupError::UnknownMember)
            };
            out.push(r);
        }
        (out, fx)
    }

    /// May this request commit offsets? (OffsetCommit; also refreshes a member's session.)
    pub fn validate_commit(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            self.check_generation(member_id, instance, generation)?;
            if self.state == GroupState::CompletingRebalance {
                return Err(GroupError::RebalanceInProgress);
            }
            if let Some(m) = self.members.get_mut(member_id) {
                m.last_heartbeat_ms = now;
            }
            Ok(())
        } else if self.state == GroupState::Empty {
            // A simple (non-member) consumer committing for itself.
            Ok(())
        } else {
            // Only members may commit to a group with members; an admin commit (generation
            // -1, no member id) is refused with UNKNOWN_MEMBER_ID, as Kafka's
            // ClassicGroup.validateOffsetCommit does.
            Err(GroupError::UnknownMember)
        }
    }

    /// May a transactional offset commit (TxnOffsetCommit v3+, KIP-447) of this member stage
    /// offsets? Its member id and generation are checked as OffsetCommit's are, so a zombie
    /// whose partitions moved to another member in a newer generation is refused
    /// (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID) and aborts instead of
    /// committing records the new owner copies again. As in Kafka, a request without member
    /// information (TxnOffsetCommit before v3) is accepted and the group's state does not matter
    /// (no REBALANCE_IN_PROGRESS: the transaction's commit is what decides).
    pub fn validate_txn_commit(
        &self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            self.check_generation(member_id, instance, generation)?;
        }
        Ok(())
    }

    /// Timers: expired sessions, expired MEMBER_ID_REQUIRED slots, rebalance deadlines.
    pub fn tick(&mut self, now: i64, limits: &Limits) -> Vec<Effect> {
        let mut fx = Vec::new();
        let before = self.pending_members.len();
        self.pending_members.retain(|_, deadline| *deadline > now);
        if self.pending_members.len() != before {
            self.try_complete_join(now, &mut fx);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                !m.awaiting_join
                    && !m.awaiting_sync
                    && m.last_heartbeat_ms + i64::from(m.session_timeout_ms) <= now
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.group_id, member = %id, "member session expired");
            self.remove_member_and_update(&id, now, limits, &mut fx);
        }
        if self.state == GroupState::PreparingRebalance
            && self.join_deadline_ms.is_some_and(|d| d <= now)
        {
            match self.initial_delay {
                Some(d) if d.member_joined && now - d.started_ms < d.max_ms => {
                    let remaining = d.max_ms - (now - d.started_ms);
                    let delay = i64::from(limits.initial_rebalance_delay_ms).min(remaining);
                    self.initial_delay = Some(InitialDelay {
                        member_joined: false,
                        ..d
                    });
                    self.join_deadline_ms = Some(now + delay);
                }
                _ => self.complete_join(now, &mut fx),
            }
        }
        fx
    }

    /// The earliest time (ms) at which [`Self::tick`] has something to do: a pending member's
    /// second-join deadline, a member's session deadline, or the join phase's deadline. The
    /// coordinator's timer sleeps until then, so a member expires exactly at its session
    /// timeout, not at the next periodic tick. Mirrors the conditions of `tick`.
    pub fn next_deadline(&self) -> Option<i64> {
        let pending = self.pending_members.values().copied();
        let sessions = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && !m.awaiting_sync)
            .map(|m| m.last_heartbeat_ms + i64::from(m.session_timeout_ms));
        let join = self
            .join_deadline_ms
            .filter(|_| self.state == GroupState::PreparingRebalance);
        pending.chain(sessions).chain(join).min()
    }

    /// Whether the group has nothing left (no members, no offsets) and can be forgotten.
    pub fn is_disposable(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
            && self.consumer.is_none()
            && self.txn_offsets.is_empty()
    }
}
