//! Eddy broker: a Kafka-wire-compatible broker (see ARCHITECTURE.md §2).
//!
//! Flow of a request: `server` reads a frame → `handlers` registry dispatches by API key →
//! a handler gets a `RequestContext` (node, metadata control, group coordinator, replication)
//! → `partition` (offsets, producer state) → `log` (segments).
//!
//! Layers, each depending only on those below it:
//!
//! - `server`, `admin_http`: connections and the admin HTTP API; build each `RequestContext`.
//! - `handlers`: one file per Kafka API; `handlers/errors.rs` is the one place layer errors
//!   become Kafka error codes.
//! - `broker`: composes the layers below and tracks the lifecycle state.
//! - `group` (consumer-group coordinator), `replication` (followers, ISR changes, throttles).
//! - `control`: metadata changes and lookups behind `MetadataControl`, one implementation per
//!   mode (`single_node`, `quorum` over the Raft metadata log of `cluster`).
//! - `node`: the topics and partitions this broker serves, their settings, flusher, metrics.
//! - `cluster` (Raft metadata quorum and image), `partition`, `log`, `metadata`, `config`.

pub mod admin_http;
pub mod broker;
pub mod cleaner;
pub mod cluster;
pub mod config;
pub mod control;
pub mod coordinator_topic;
pub mod entry;
pub mod features;
pub mod fetch_session;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod node;
pub mod partition;
pub mod probes;
pub mod replication;
pub mod security;
pub mod server;
pub mod txn;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding the kafka listeners: {0}")]
    Listen(std::io::Error),
    #[error("binding the admin address {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("recovering the data directory: {0}")]
    Node(#[from] node::NodeError),
    #[error("the recovery task failed: {0}")]
    Recovery(#[from] tokio::task::JoinError),
    #[error("starting the metadata quorum: {0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error("the cluster was started twice")]
    ClusterStartedTwice,
    #[error("cluster mode needs an advertised listener")]
    NoAdvertisedListener,
    #[error("starting the group coordinator: {0}")]
    Groups(#[from] group::GroupLogError),
    #[error("starting the transaction coordinator: {0}")]
    Txns(#[from] txn::TxnLogError),
    #[error("configuring tls: {0}")]
    Tls(#[from] security::tls::TlsError),
    #[error("configuring the controller listener: {0}")]
    ControllerListener(#[from] security::controller_listener::ControllerListenerError),
    #[error("configuring the inter-broker listener: {0}")]
    InterBroker(#[from] replication::inter_broker::InterBrokerError),
    #[error("unsupported feature level: {0}")]
    Features(String),
}

/// A running broker: its bound addresses and the handle to stop it.
pub struct RunningBroker {
    pub broker: Arc<broker::Broker>,
    pub kafka_addrs: Vec<(String, SocketAddr)>,
    pub admin_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningBroker {
    /// Graceful shutdown: stop accepting, close connections, flush and seal every log.
    pub async fn shutdown(self) {
        if let Some(c) = self.broker.cluster().cloned() {
            // Controlled shutdown: move leaderships to other in-sync replicas before exiting.
            self.broker.set_state(broker::BrokerState::Draining);
            let cmd = cluster::image::Command::ControlledShutdown {
                id: self.broker.node.node_id(),
            };
            match tokio::time::timeout(std::time::Duration::from_secs(15), c.write(cmd)).await {
                Ok(Ok(_)) => {
                    self.broker.metadata().apply_changes();
                    tracing::info!("controlled shutdown: leaderships moved");
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "controlled shutdown not acknowledged"),
                Err(_) => tracing::warn!("controlled shutdown timed out"),
            }
        }
        self.shutdown.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.broker.close().await;
        tracing::info!("broker stopped cleanly");
    }
}

/// Records the bound address of every Kafka listener and advertises the real port when a
/// listener asked for port 0 (tests).
fn advertise_bound_ports(
    node: &node::Node,
    listeners: &[(config::Listener, tokio::net::TcpListener)],
) -> Result<Vec<(String, SocketAddr)>, StartError> {
    let mut kafka_addrs = Vec::new();
    {
        let mut adv = node
            .advertised
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (listener, sock) in listeners {
            let addr = sock.local_addr().map_err(StartError::Listen)?;
            kafka_addrs.push((listener.name.clone(), addr));
            match adv.iter_mut().find(|l| l.name == listener.name) {
                Some(l) if l.port == 0 => l.port = addr.port(),
                Some(_) => {}
                None => adv.push(config::Listener {
                    host: addr.ip().to_string(),
                    port: addr.port(),
                    ..listener.clone()
                }),
            }
        }
    }
    Ok(kafka_addrs)
}

/// The metadata control of the mode: the Raft quorum in cluster mode (started here), else the
/// local metadata file.
async fn metadata_control(
    node: &Arc<node::Node>,
    shutdown: watch::Receiver<bool>,
) -> Result<
    (
        Option<Arc<cluster::Cluster>>,
        Arc<dyn control::MetadataControl>,
    ),
    StartError,
> {
    // The metadata control of the mode: the Raft quorum in cluster mode, else the local file.
    let quorum = match node.config.cluster.clone() {
        Some(cfg) => {
            let c = cluster::Cluster::start(node.node_id(), &cfg, &node.config.data_dir, shutdown)
                .await?;
            node.quorum
                .set(Arc::clone(&c))
                .map_err(|_| StartError::ClusterStartedTwice)?;
            Some(c)
        }
        None => None,
    };
    let control: Arc<dyn control::MetadataControl> = match &quorum {
        Some(c) => Arc::new(control::Quorum::new(Arc::clone(node), Arc::clone(c))),
        None => {
            features::check_supported(&node.meta().image.features, &features::supported())
                .map_err(StartError::Features)?;
            Arc::new(control::SingleNode::new(Arc::clone(node)))
        }
    };
    Ok((quorum, control))
}

/// Opens the data directory, recovers, binds the listeners and the admin port, and serves.
pub async fn start(config: config::BrokerConfig) -> Result<RunningBroker, StartError> {
    let tls = security::tls::servers_for(
        config
            .listeners
            .iter()
            .map(|l| (l.name.as_str(), l.protocol)),
        &config.settings,
    )?;
    let inter_broker = replication::inter_broker::InterBroker::from_config(&config)?;
    let controller_tls = security::controller_listener::controller_tls_listener(
        &config.settings,
        config.get_bool("controller.ssl.enabled"),
    )?;
    if let (Some(_), Some(name)) = (&config.cluster, controller_tls) {
        cluster::net::transport::enable_tls(cluster::net::transport::ControllerTls {
            server: security::tls::TlsServer::new(&config.settings, &name)?,
            client: security::tls::client::TlsClient::new(&config.settings, &name)?,
        });
    }
    let admin_tls = if config.get_bool("admin.ssl.enabled") {
        Some(security::tls::TlsServer::new(&config.settings, "ADMIN")?)
    } else {
        None
    };
    let listeners = server::bind(&config.listeners)
        .await
        .map_err(StartError::Listen)?;
    let admin_error = |source| StartError::Admin {
        addr: config.admin_addr,
        source,
    };
    let admin = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .map_err(admin_error)?;
    let admin_addr = admin.local_addr().map_err(admin_error)?;
    let started = std::time::Instant::now();
    let node = tokio::task::spawn_blocking(move || node::Node::open(config)).await??;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "logs recovered"
    );
    let kafka_addrs = advertise_bound_ports(&node, &listeners)?;
    let (shutdown, rx) = watch::channel(false);
    let (quorum, control) = metadata_control(&node, rx.clone()).await?;
    let broker = broker::Broker::new(node, control);
    broker.txns.set_inter_broker(inter_broker.clone());
    broker.replication.set_inter_broker(inter_broker);
    broker
        .groups
        .start(&broker.node, broker.metadata().as_ref())
        .await?;
    broker
        .txns
        .start(&broker.node, broker.metadata().as_ref())
        .await?;
    if let Some(c) = &quorum {
        broker.follow_quorum(c, rx.clone())?;
        replication::spawn_isr_checks(&broker.replication, rx.clone());
    }
    let mut tasks = Vec::new();
    let serve_all = {
        let broker = Arc::clone(&broker);
        let rx = rx.clone();
        async move {
            let serving = listeners.into_iter().map(|(l, sock)| {
                let tls = tls.get(&l.name).cloned();
                server::serve(Arc::clone(&broker), l, sock, tls, rx.clone())
            });
            futures::future::join_all(serving).await;
        }
    };
    if let Some(cluster) = broker.cluster().cloned() {
        // As a KRaft broker: serve clients only once this incarnation's registration is applied
        // in the local metadata image, i.e. the image has caught up with everything written
        // before it. Until then a restarted broker's image is stale: it may still name itself
        // the leader of partitions that moved, or miss topics created while it was away, and
        // clients told "unknown topic" give up. The listeners are bound already (port clashes
        // fail the start); connections wait in the accept queue.
        let broker2 = Arc::clone(&broker);
        let mut stop = rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut changes = cluster.subscribe();
            while !cluster.is_registered() {
                tokio::select! {
                    () = cluster::stopped(&mut stop) => return,
                    r = changes.changed() => if r.is_err() { return },
                    () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                }
            }
            tracing::info!("metadata caught up: serving clients");
            control::bootstrap_scram(broker2.metadata().as_ref(), &broker2.node.config.add_scram);
            broker2.set_state(broker::BrokerState::Running);
            serve_all.await;
        }));
    } else {
        control::bootstrap_scram(broker.metadata().as_ref(), &broker.node.config.add_scram);
        tasks.push(tokio::spawn(serve_all));
    }
    let app = admin_http::router(Arc::clone(&broker));
    let mut admin_rx = rx.clone();
    let admin_rx2 = rx.clone();
    tasks.push(tokio::spawn(async move {
        let stop = async move {
            let _ = admin_rx.wait_for(|s| *s).await;
        };
        let served = match admin_tls {
            Some(tls) => {
                match security::admin_tls::AdminTlsListener::spawn(admin, tls, admin_rx2) {
                    Ok(l) => axum::serve(l, app).with_graceful_shutdown(stop).await,
                    Err(e) => Err(e),
                }
            }
            None => axum::serve(admin, app).with_graceful_shutdown(stop).await,
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "admin http server failed");
        }
    }));
    broker.node.spawn_housekeeping();
    cleaner::spawn(&broker.node);
    if broker.cluster().is_none() {
        broker.set_state(broker::BrokerState::Running);
    }
    Ok(RunningBroker {
        broker,
        kafka_addrs,
        admin_addr,
        shutdown,
        tasks,
    })
}
