//! Feature levels (KIP-584) through the admin client: UpdateFeatures to finalize a level of a
//! feature (the version upgrade's second phase). Downgrades are never asked for.

use kafka_protocol::messages::UpdateFeaturesRequest;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::protocol::StrBytes;

use super::{AdminClient, Error, check};

/// UpdateFeatures' upgrade type "upgrade" (v1+).
const UPGRADE: i8 = 1;

impl AdminClient {
    /// Finalizes `feature` at `level` (an upgrade; the same level again is no change). The
    /// controller refuses while a registered broker's binary does not support the level.
    ///
    /// # Errors
    /// Protocol errors, or the brokers' refusal (INVALID_UPDATE_VERSION with their reason).
    pub async fn update_feature(&mut self, feature: &str, level: i16) -> Result<(), Error> {
        let req = UpdateFeaturesRequest::default()
            .with_timeout_ms(self.timeout_ms)
            .with_feature_updates(vec![
                FeatureUpdateKey::default()
                    .with_feature(StrBytes::from_string(feature.to_string()))
                    .with_max_version_level(level)
                    .with_upgrade_type(UPGRADE),
            ]);
        let resp = self.conn.call(&req, 1).await?;
        check(
            "update features",
            resp.error_code,
            resp.error_message.as_ref(),
        )?;
        for r in &resp.results {
            check("update features", r.error_code, r.error_message.as_ref())?;
        }
        Ok(())
    }
}
