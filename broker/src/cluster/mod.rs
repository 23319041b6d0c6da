//! Cluster mode: a KRaft-style metadata quorum replicated with openraft among the controller
//! voters (`--controller-quorum-voters 0@127.0.0.1:9095,1@...`). The state machine holds broker
//! registrations (with fencing), topics and partitions (replicas, ISR, leader, leader epoch) and
//! topic configs. Brokers that are not voters join the quorum as Raft learners when they have a
//! controller listener (the active controller adds them; see quorum.rs for voter-set changes),
//! else they fetch the image from a voter.
//!
//! The active controller (the Raft leader) tracks broker heartbeats in memory and writes
//! `FenceBroker` when one stops, which elects new partition leaders from the ISR (never an
//! unclean election), and `UnfenceBroker` when it returns.

pub mod health;
pub mod image;
pub mod leader_balance;
pub mod membership;
pub mod net;
pub mod quorum;
pub mod store;

use image::{ClusterImage, Command, Outcome};
use net::{Reply, Request};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

openraft::declare_raft_types!(
    /// The Raft types of the metadata quorum.
    pub TypeConfig:
        D = Command,
        R = Outcome,
);

const RPC_TIMEOUT: Duration = Duration::from_secs(3);
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// Prefix of the registration error that stops the broker (see `spawn_registration`).
const REFUSED_FEATURES: &str = "unsupported feature level: ";

/// Cluster settings from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Voter node id -> controller address (host:port).
    pub voters: BTreeMap<u64, String>,
    /// Where this node's controller listens (defaults to its address in `voters`).
    pub listener: Option<SocketAddr>,
    /// The address others reach this node's controller at (host:port; see `--controller-advertised-address`).
    pub advertised: Option<String>,
    /// A broker whose heartbeats stop for this long is fenced.
    pub session_timeout: Duration,
    /// Automatic preferred-leader balancing (`auto.leader.rebalance.enable`); `None` when off.
    pub leader_balance: Option<leader_balance::LeaderBalance>,
}

impl ClusterConfig {
    /// Parses KRaft's `id@host:port,id@host:port` voter list.
    pub fn parse_voters(s: &str) -> Result<BTreeMap<u64, String>, String> {
        let mut voters = BTreeMap::new();
        for v in s.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let (id, addr) = v
                .split_once('@')
                .ok_or_else(|| format!("invalid voter {v:?}: expected id@host:port"))?;
            let id: u64 = id
                .parse()
                .map_err(|_| format!("invalid voter id in {v:?}"))?;
            if !Self::valid_host_port(addr) {
                return Err(format!(
                    "invalid voter address in {v:?}: expected host:port"
                ));
            }
            if voters.insert(id, addr.to_string()).is_some() {
                return Err(format!("voter {id} is listed twice"));
            }
        }
        if voters.is_empty() {
            return Err("the controller quorum voter list is empty".into());
        }
        Ok(voters)
    }

    /// `host:port` with a non-empty host and a numeric port.
    pub fn valid_host_port(s: &str) -> bool {
        s.rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    }
}

/// This broker's view of, and access to, the metadata quorum.
pub struct Cluster {
    pub node_id: i32,
    voters: BTreeMap<u64, String>,
    raft: Option<Raft<TypeConfig>>,
    image: Arc<RwLock<ClusterImage>>,
    applied: Arc<watch::Sender<u64>>,
    /// Last heartbeat per broker, kept by the active controller only.
    heartbeats: Mutex<HashMap<i32, Instant>>,
    /// The controller this node last heard of (non-voters learn it from replies).
    known_leader: Mutex<Option<u64>>,
    session_timeout: Duration,
    leader_balance: Option<leader_balance::LeaderBalance>,
    /// Where other brokers reach this node's controller listener, once known (registered with
    /// the broker so the active controller can add it as a learner).
    controller_addr: std::sync::OnceLock<String>,
    /// The controller listener's bound address (nodes running Raft only).
    listen_addr: Option<SocketAddr>,
    /// This incarnation's registration is applied in the local image: everything written
    /// before it (leader changes while this broker was away) is applied too.
    registered: std::sync::atomic::AtomicBool,
}

/// Why the metadata quorum member could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster mode needs a non-negative node id")]
    NodeId,
    #[error("metadata quorum storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata quorum storage is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("starting raft: {0}")]
    Raft(String),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("a learner needs a controller listener")]
    NoListener,
    #[error("binding the controller listener {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Cluster {
    /// Starts the quorum member: a voter named in the flag, a learner (any other broker with a
    /// controller listener), or else the image follower.
    pub async fn start(
        node_id: i32,
        cfg: &ClusterConfig,
        data_dir: &Path,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let me = u64::try_from(node_id).map_err(|_| ClusterError::NodeId)?;
        let dir = data_dir.join("__cluster_metadata");
        let voter = cfg.voters.contains_key(&me);
        let runs_raft = voter || cfg.listener.is_some();
        let (raft, image, applied) = if runs_raft {
            let log = store::LogStore::open(&dir)?;
            let sm = store::StateMachine::open(&dir)?;
            let image = Arc::clone(&sm.image);
            let applied = Arc::clone(&sm.applied);
            let config = openraft::Config {
                cluster_name: "eddy".into(),
                heartbeat_interval: 150,
                election_timeout_min: 600,
                election_timeout_max: 1200,
                snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
                max_in_snapshot_log_to_keep: 100,
                ..Default::default()
            }
            .validate()
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
            let raft = Raft::new(me, Arc::new(config), net::Network, log, sm)
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
            (Some(raft), image, applied)
        } else {
            (
                None,
                Arc::new(RwLock::new(ClusterImage::default())),
                Arc::new(watch::channel(0u64).0),
            )
        };
        let listener = if runs_raft {
            let addr: SocketAddr = match (cfg.listener, cfg.voters.get(&me)) {
                (Some(a), _) => a,
                (None, Some(v)) => tokio::net::lookup_host(v)
                    .await?
                    .next()
                    .ok_or_else(|| ClusterError::Resolve(v.clone()))?,
                (None, None) => return Err(ClusterError::NoListener),
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ClusterError::Bind { addr, source })?;
            tracing::info!(%addr, voter, "controller listening");
            Some(listener)
        } else {
            None
        };
        let listen_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let controller_addr = std::sync::OnceLock::new();
        let known = cfg
            .advertised
            .clone()
            .or_else(|| cfg.voters.get(&me).cloned());
        let known = known.or_else(|| {
            listen_addr
                .filter(|a| !a.ip().is_unspecified())
                .map(|a| a.to_string())
        });
        if let Some(a) = known {
            let _ = controller_addr.set(a);
        }
        let cluster = Arc::new(Cluster {
            node_id,
            voters: cfg.voters.clone(),
            raft,
            image,
            applied,
            heartbeats: Mutex::new(HashMap::new()),
            known_leader: Mutex::new(None),
            session_timeout: cfg.session_timeout,
            leader_balance: cfg.leader_balance,
            controller_addr,
            listen_addr,
            registered: std::sync::atomic::AtomicBool::new(false),
        });
        if let (Some(raft), Some(listener)) = (&cluster.raft, listener) {
            tokio::spawn(Arc::clone(&cluster).serve(listener, shutdown.clone()));
            let members: BTreeMap<u64, BasicNode> = cfg
                .voters
                .iter()
                .map(|(id, a)| (*id, BasicNode::new(a)))
                .collect();
            // Only the brokers named in the flag may initialize an empty quorum; any other waits
            // to be added as a learner by the active controller.
            if voter
                && !raft
                    .is_initialized()
                    .await
                    .map_err(|e| ClusterError::Raft(e.to_string()))?
            {
                // Every voter proposes the same membership; openraft makes this safe. A voter that
                // lost its data must not start a second quorum: when another named voter already
                // has one, this node waits to be replicated to instead.
                if let Some(v) = cluster.existing_quorum().await {
                    tracing::warn!(
                        voters = ?v.voters,
                        "empty metadata store but the quorum exists: not initializing"
                    );
                } else if let Err(e) = raft.initialize(members).await {
                    tracing::debug!(error = %e, "quorum already initialized");
                }
            }
            tokio::spawn(Arc::clone(&cluster).controller_loop(shutdown.clone()));
        } else {
            tokio::spawn(Arc::clone(&cluster).image_loop(shutdown.clone()));
        }
        Ok(cluster)
    }

    pub fn image(&self) -> std::sync::RwLockReadGuard<'_, ClusterImage> {
        self.image
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fires whenever the image changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// The cluster id all brokers report (empty until the first registration is applied).
    pub fn cluster_id(&self) -> Option<String> {
        Some(self.image().cluster_id.clone()).filter(|c| !c.is_empty())
    }

    /// Whether this broker's current registration is applied in its image. Before that, a
    /// restarted broker's image may be stale (it may still name it as a partition leader).
    pub fn is_registered(&self) -> bool {
        self.registered.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many controller voters the quorum has (a lower bound of the cluster's size).
    pub fn voter_count(&self) -> usize {
        self.voters.len()
    }

    pub fn is_voter(&self) -> bool {
        let me = u64::try_from(self.node_id).unwrap_or(u64::MAX);
        match &self.raft {
            Some(r) => r
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == me),
            None => false,
        }
    }

    /// Whether this broker's image is current enough to act on destructively: a voter has
    /// applied every entry of its local log and knows the controller (so a restart replaying
    /// old entries is not mistaken for the present); other brokers have fetched an image.
    pub fn caught_up(&self) -> bool {
        match &self.raft {
            Some(r) => {
                let m = r.metrics().borrow().clone();
                m.current_leader.is_some() && m.last_applied.map(|l| l.index) >= m.last_log_index
            }
            None => *self.applied.borrow() > 0,
        }
    }

    /// The active controller's node id, when known.
    pub fn controller_id(&self) -> Option<i32> {
        let leader = self
            .raft
            .as_ref()
            .and_then(|r| r.metrics().borrow().current_leader)
            .or(*self.lock_leader());
        leader.and_then(|l| i32::try_from(l).ok())
    }

    /// The controller address other brokers reach this node at, filling in the advertised
    /// Kafka host when the listener is bound to a wildcard address.
    pub fn set_advertised_host(&self, host: &str) {
        if let Some(a) = self.listen_addr {
            let _ = self.controller_addr.set(format!("{host}:{}", a.port()));
        }
    }

    /// Where node `id`'s controller listens: the Raft membership, else its registration, else
    /// the voter flag.
    fn addr_of(&self, id: u64) -> Option<String> {
        if let Some(r) = &self.raft
            && let Some(n) = r
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(&id)
        {
            return Some(n.addr.clone());
        }
        if let Ok(i) = i32::try_from(id)
            && let Some(a) = self.image().controllers.get(&i)
        {
            return Some(a.clone());
        }
        self.voters.get(&id).cloned()
    }

    /// The nodes worth asking for the controller: the current voters and the flag's voters.
    fn contact_ids(&self) -> Vec<u64> {
        let mut ids: std::collections::BTreeSet<u64> = self.voters.keys().copied().collect();
        if let Some(r) = &self.raft {
            ids.extend(
                r.metrics()
                    .borrow()
                    .membership_config
                    .membership()
                    .voter_ids(),
            );
        }
        ids.into_iter().collect()
    }

    fn lock_leader(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.known_leader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_leader(&self) -> bool {
        self.raft.as_ref().is_some_and(|r| {
            let m = r.metrics().borrow().clone();
            m.state == ServerState::Leader && m.current_leader == Some(m.id)
        })
    }

    /// Applies `cmd` through the active controller (forwarding as needed), then waits until this
    /// broker's image reflects it. Retries through elections, bounded.
    pub async fn write(&self, cmd: Command) -> Result<Outcome, String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut target = self.controller_id().and_then(|l| u64::try_from(l).ok());
        let contacts = self.contact_ids();
        let mut rotate = contacts.iter().copied().cycle();
        let mut last_err = String::from("no controller reachable");
        while Instant::now() < deadline {
            let t = match target {
                Some(t) => t,
                None => rotate.next().unwrap_or(0),
            };
            let reply = if self.raft.is_some() && i32::try_from(t).ok() == Some(self.node_id) {
                self.local_write(cmd.clone()).await
            } else if let Some(addr) = self.addr_of(t) {
                net::call(&addr, &Request::Write(cmd.clone()), RPC_TIMEOUT)
                    .await
                    .unwrap_or_else(|e| Reply::Error(e.to_string()))
            } else {
                Reply::NotLeader(None)
            };
            match reply {
                Reply::Written(outcome, index) => {
                    *self.lock_leader() = Some(t);
                    self.wait_applied(index).await;
                    return Ok(outcome);
                }
                Reply::NotLeader(Some(l)) if l != t => target = Some(l),
                Reply::NotLeader(_) => {
                    target = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Reply::Error(e) => {
                    last_err = e;
                    target = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => last_err = format!("unexpected controller reply {other:?}"),
            }
        }
        Err(format!(
            "the metadata quorum did not accept the change: {last_err}"
        ))
    }

    async fn local_write(&self, cmd: Command) -> Reply {
        let Some(raft) = &self.raft else {
            return Reply::NotLeader(None);
        };
        match raft.client_write(cmd).await {
            Ok(r) => Reply::Written(r.data, r.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Reply::NotLeader(f.leader_id)
            }
            Err(e) => Reply::Error(e.to_string()),
        }
    }

    /// Waits (bounded) until the local image has applied log index `index`.
    async fn wait_applied(&self, index: u64) {
        let mut rx = self.applied.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|i| *i >= index)).await;
    }

    async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        mut stop: watch::Receiver<bool>,
    ) {
        if let Some(tls) = net::transport::tls_server() {
            tls.spawn_reload(stop.clone());
        }
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                conn = listener.accept() => {
                    let Ok((s, _)) = conn else { continue };
                    let me = Arc::clone(&self);
                    tokio::spawn(net::serve_connection(s, move |req| {
                        let me = Arc::clone(&me);
                        async move { me.handle(req).await }
                    }));
                }
            }
        }
    }

    async fn handle(&self, req: Request) -> Reply {
        let Some(raft) = &self.raft else {
            return Reply::NotLeader(None);
        };
        match req {
            Request::Append(r) => Reply::Append(raft.append_entries(r).await),
            Request::Vote(r) => Reply::Vote(raft.vote(r).await),
            Request::Snapshot(r) => Reply::Snapshot(raft.install_snapshot(r).await),
            Request::Write(cmd) => self.local_write(cmd).await,
            Request::Heartbeat { id } => {
                if self.is_leader() {
                    self.lock_heartbeats().insert(id, Instant::now());
                    Reply::Ack
                } else {
                    Reply::NotLeader(raft.metrics().borrow().current_leader)
                }
            }
            Request::Image => Reply::Image(self.image().clone(), *self.applied.borrow()),
            Request::Quorum => Reply::Quorum(quorum::view_of(raft)),
            Request::ChangeVoters(voters) => self.handle_change_voters(voters).await,
        }
    }

    fn lock_heartbeats(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Instant>> {
        self.heartbeats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers this broker, then heartbeats to the active controller until shutdown.
    pub fn spawn_registration(
        self: &Arc<Self>,
        host: String,
        port: u16,
        rack: Option<String>,
        cluster_id: String,
        endpoints: Vec<image::Endpoint>,
        mut stop: watch::Receiver<bool>,
    ) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let cmd = Command::RegisterBroker {
                id: me.node_id,
                host,
                port,
                rack,
                cluster_id,
                endpoints,
                supported_features: crate::features::supported(),
            };
            // Bounded: 40 attempts of up to 15 s each.
            for _ in 0..40 {
                match me.register(cmd.clone()).await {
                    Err(e) if e.starts_with(REFUSED_FEATURES) => {
                        // A binary that cannot run the cluster's finalized feature levels must
                        // not serve: it would read or write what the others do not expect.
                        tracing::error!(error = %e, "refusing to start");
                        eprintln!("broker refusing to start: {e}");
                        std::process::exit(78);
                    }
                    Ok(()) => {
                        tracing::info!(node_id = me.node_id, "registered with the controller");
                        me.registered
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "broker registration failed; retrying"),
                }
                if *stop.borrow() {
                    return;
                }
            }
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = tick.tick() => me.heartbeat().await,
                }
            }
        });
    }

    /// `RegisterBroker`, then this node's controller address when it has one. A refusal
    /// because of feature levels is an error starting with `REFUSED_FEATURES`.
    async fn register(&self, cmd: Command) -> Result<(), String> {
        if let Outcome::Refused(image::Refusal::UnsupportedFeatureLevel, why) =
            self.write(cmd).await?
        {
            return Err(format!("{REFUSED_FEATURES}{why}"));
        }
        if let Some(addr) = self.controller_addr.get() {
            self.write(Command::SetControllerAddress {
                id: self.node_id,
                addr: addr.clone(),
            })
            .await?;
        }
        Ok(())
    }

    async fn heartbeat(&self) {
        let req = Request::Heartbeat { id: self.node_id };
        let mut target = self.controller_id().and_then(|l| u64::try_from(l).ok());
        for _ in 0..4 {
            let Some(t) = target else { return };
            if self.raft.is_some() && i32::try_from(t).ok() == Some(self.node_id) {
                if self.is_leader() {
                    self.lock_heartbeats().insert(self.node_id, Instant::now());
                }
                return;
            }
            let Some(addr) = self.addr_of(t) else {
                return;
            };
            match net::call(&addr, &req, RPC_TIMEOUT).await {
                Ok(Reply::Ack) => {
                    *self.lock_leader() = Some(t);
                    return;
                }
                Ok(Reply::NotLeader(l)) => target = l,
                _ => return,
            }
        }
    }

    /// On the active controller: fence brokers whose heartbeats stopped, unfence returning ones.
    async fn controller_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(300));
        let mut led_term = None;
        let mut seen_epochs: HashMap<i32, i64> = HashMap::new();
        let mut balanced_at = Instant::now();
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => {
                    if let Some(r) = &self.raft {
                        let _ = r.shutdown().await;
                    }
                    return;
                }
                _ = tick.tick() => {}
            }
            if !self.is_leader() {
                led_term = None;
                continue;
            }
            let term = self
                .raft
                .as_ref()
                .map(|r| r.metrics().borrow().current_term);
            if led_term != term {
                // A new controller gives every broker a full session before fencing it.
                led_term = term;
                let now = Instant::now();
                let ids: Vec<i32> = self.image().brokers.keys().copied().collect();
                let mut hb = self.lock_heartbeats();
                for id in ids {
                    hb.insert(id, now);
                }
                tracing::info!(
                    node_id = self.node_id,
                    ?term,
                    "became the active controller"
                );
                // Brokers get one check interval to come back before leaders move to them.
                balanced_at = Instant::now();
            }
            if let Some(lb) = self.leader_balance
                && balanced_at.elapsed() >= lb.interval
            {
                balanced_at = Instant::now();
                self.balance_leaders(lb).await;
            }
            self.add_registered_learners().await;
            self.remove_unregistered_learners().await;
            let brokers: Vec<(i32, bool, i64)> = self
                .image()
                .brokers
                .values()
                .map(|b| (b.id, b.fenced, b.epoch))
                .collect();
            for (id, fenced, epoch) in brokers {
                // A broker seen for the first time in this registration (new, or restarted with
                // a new epoch) gets a full session to heartbeat before it can be fenced.
                if seen_epochs.insert(id, epoch) != Some(epoch) {
                    self.lock_heartbeats().insert(id, Instant::now());
                }
                let alive = self
                    .lock_heartbeats()
                    .get(&id)
                    .is_some_and(|t| t.elapsed() < self.session_timeout);
                let cmd = match (alive, fenced) {
                    (false, false) => Command::FenceBroker { id },
                    (true, true) => Command::UnfenceBroker { id },
                    _ => continue,
                };
                tracing::info!(?cmd, "controller changes broker liveness");
                // Only through this node's own Raft log, never forwarded: the decision rests on
                // this controller's heartbeat table. A controller cut off from the quorum (a
                // network partition) misses every heartbeat; its write waits until it learns of
                // the new controller, and forwarding it then would fence healthy brokers.
                match self.local_write(cmd).await {
                    Reply::Written(..) => {}
                    other => tracing::warn!(reply = ?other, "liveness change not applied"),
                }
            }
        }
    }

    /// One pass of automatic preferred-leader balancing (see `leader_balance`): a preferred
    /// election per chosen partition, through this controller's own log like liveness changes.
    async fn balance_leaders(&self, lb: leader_balance::LeaderBalance) {
        let chosen = leader_balance::preferred_elections(&self.image(), lb.imbalance_pct);
        if chosen.is_empty() {
            return;
        }
        tracing::info!(
            partitions = chosen.len(),
            "leader imbalance above leader.imbalance.per.broker.percentage: electing preferred leaders"
        );
        for (topic, partition) in chosen {
            let cmd = Command::ElectLeader {
                topic,
                partition,
                unclean: false,
            };
            match self.local_write(cmd).await {
                Reply::Written(..) => {}
                other => tracing::debug!(reply = ?other, "preferred election not applied"),
            }
        }
    }

    /// Non-voters: fetch the image from a voter, every 300 ms.
    async fn image_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(300));
        let mut turn = 0usize;
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = tick.tick() => {}
            }
            turn += 1;
            // The flag's voters, then every registered controller (the voters may have changed).
            let mut voters: Vec<String> = self.voters.values().cloned().collect();
            voters.extend(self.image().controllers.values().cloned());
            voters.dedup();
            let Some(addr) = voters.get(turn % voters.len().max(1)) else {
                return;
            };
            if let Ok(Reply::Image(img, index)) =
                net::call(addr, &Request::Image, RPC_TIMEOUT).await
                && index > *self.applied.borrow()
            {
                *self
                    .image
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = img;
                self.applied.send_replace(index);
            }
        }
    }
}

/// Resolves once the shutdown flag is set (without holding the watch guard across awaits).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_kraft_style() {
        let v = ClusterConfig::parse_voters("0@127.0.0.1:9095, 1@127.0.0.1:9096").unwrap();
        assert_eq!(v[&1], "127.0.0.1:9096");
        assert!(ClusterConfig::parse_voters("0@127.0.0.1").is_err());
        assert!(ClusterConfig::parse_voters("x@127.0.0.1:1").is_err());
        assert!(ClusterConfig::parse_voters("0@a:1,0@b:2").is_err());
        assert!(ClusterConfig::parse_voters("").is_err());
        // DNS names are kept as given: they are resolved on every connection.
        let v = ClusterConfig::parse_voters("0@eddy-0.eddy.ns.svc:9095").unwrap();
        assert_eq!(v[&0], "eddy-0.eddy.ns.svc:9095");
        assert!(ClusterConfig::valid_host_port("h:1"));
        assert!(!ClusterConfig::valid_host_port(":1"));
        assert!(!ClusterConfig::valid_host_port("h:x"));
    }
}
