//! The broker: composes the local node (`node.rs`), the metadata control of its mode
//! (`control/`), the group coordinator and replication, and tracks the lifecycle state.

use crate::control::MetadataControl;
use crate::node::Node;
use std::sync::Arc;
use tokio::sync::watch;

pub use crate::node::{ControlError, TopicState};

/// Lifecycle state reported at /v1/broker/state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerState {
    Starting,
    Recovering,
    Running,
    Draining,
}

pub struct Broker {
    pub node: Arc<Node>,
    control: Arc<dyn MetadataControl>,
    pub groups: Arc<crate::group::Coordinator>,
    /// The transaction coordinator (single-node mode; txn/).
    pub txns: Arc<crate::txn::TxnCoordinator>,
    /// Follower fetchers and ISR changes in flight (cluster mode).
    pub replication: Arc<crate::replication::Replication>,
    /// Client quotas and connection limits (`security::quota`).
    pub quotas: Arc<crate::security::quota::QuotaManager>,
    state: watch::Sender<BrokerState>,
}

impl Broker {
    /// Composes a broker from its recovered node and the metadata control of its mode.
    pub fn new(node: Arc<Node>, control: Arc<dyn MetadataControl>) -> Arc<Self> {
        let (state, _) = watch::channel(BrokerState::Recovering);
        let quotas = Arc::new(crate::security::quota::QuotaManager::new(
            crate::security::quota::QuotaWindow {
                samples: node.config.get_i64("quota.window.num").clamp(2, 1000) as u32,
                size_ms: node
                    .config
                    .get_i64("quota.window.size.seconds")
                    .clamp(1, 3600) as u64
                    * 1000,
            },
            Arc::new(crate::security::quota::SystemClock::default()),
            Some(&node.metrics.registry),
        ));
        quotas.update(&control.client_quotas());
        let groups = Arc::new(crate::group::Coordinator::new(
            &node.config,
            control.replicated(),
        ));
        Arc::new(Broker {
            quotas,
            txns: Arc::new(crate::txn::TxnCoordinator::new(
                &node.config,
                control.replicated(),
                Arc::clone(&groups),
            )),
            groups,
            replication: Arc::new(crate::replication::Replication::new(
                Arc::clone(&node),
                control.replicated(),
            )),
            node,
            control,
            state,
        })
    }

    /// Metadata changes and lookups, whatever the mode.
    pub fn metadata(&self) -> &Arc<dyn MetadataControl> {
        &self.control
    }

    /// The metadata quorum when running in cluster mode.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.node.quorum()
    }

    pub fn state(&self) -> BrokerState {
        *self.state.borrow()
    }

    pub fn set_state(&self, s: BrokerState) {
        self.state.send_replace(s);
    }

    /// Graceful shutdown: answer parked group requests, flush, seal every active segment,
    /// snapshot producer state.
    pub async fn close(&self) {
        self.set_state(BrokerState::Draining);
        self.groups.close().await;
        self.node.close().await;
    }

    /// Follows the quorum: reconciles on every image change, registers and heartbeats.
    pub fn follow_quorum(
        self: &Arc<Self>,
        cluster: &Arc<crate::cluster::Cluster>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), crate::StartError> {
        let mut changes = cluster.subscribe();
        let weak = Arc::downgrade(self);
        let c = Arc::clone(cluster);
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let Some(b) = weak.upgrade() else { return };
                let img = c.image().clone();
                let node = Arc::clone(&b.node);
                let img2 = img.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    crate::control::quorum::reconcile(&node, &img2);
                })
                .await;
                crate::replication::reconcile(&b.replication, &img);
                b.quotas.update(&img.client_quotas);
                // Load/unload consumer groups now rather than at the coordinator's next tick.
                b.groups.follow_leadership(&b.node);
                b.txns.follow_leadership(&b.node);
                drop(b);
                tokio::select! {
                    _ = crate::cluster::stopped(&mut stop) => return,
                    r = changes.changed() => if r.is_err() { return },
                }
            }
        });
        // Registered at the inter-broker listener's address (`inter.broker.listener.name`,
        // else the first advertised listener), with every listener as an endpoint.
        let (host, port, endpoints) = {
            let adv = self
                .node
                .advertised
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let inter = self.node.broker_setting("inter.broker.listener.name");
            let l = if inter.is_empty() {
                adv.first()
            } else {
                adv.iter().find(|l| l.name.eq_ignore_ascii_case(&inter))
            }
            .ok_or(crate::StartError::NoAdvertisedListener)?;
            let endpoints = adv
                .iter()
                .map(|l| crate::cluster::image::Endpoint {
                    listener: l.name.clone(),
                    host: l.host.clone(),
                    port: l.port,
                })
                .collect();
            (l.host.clone(), l.port, endpoints)
        };
        // A controller listener bound to a wildcard address is reached at the advertised host.
        cluster.set_advertised_host(&host);
        let rack = Some(self.node.broker_setting("broker.rack")).filter(|r| !r.is_empty());
        cluster.spawn_registration(
            host,
            port,
            rack,
            self.node.cluster_id.clone(),
            endpoints,
            shutdown,
        );
        Ok(())
    }
}
