//! Consumer-group coordinator (classic protocol): membership, rebalances, committed offsets.
//!
//! Not built yet: the group APIs are not registered, so ApiVersions does not advertise them.

use crate::config::BrokerConfig;

/// The group coordinator of this broker.
pub struct Coordinator {}

impl Coordinator {
    pub fn new(_config: &BrokerConfig) -> Self {
        Coordinator {}
    }

    /// Persists group state on shutdown.
    pub async fn close(&self) {}
}

impl Coordinator {
    /// Refreshes consumer-lag gauges before a scrape.
    pub fn update_lag_metrics(&self, _broker: &crate::broker::Broker) {}
}

impl Coordinator {
    /// Loads persisted group state (before listeners accept).
    pub async fn start(
        &self,
        _broker: &std::sync::Arc<crate::broker::Broker>,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}
