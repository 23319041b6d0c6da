//! ServiceAccount builder: the broker pods' identity, without an API token (brokers never call
//! the Kubernetes API).
use k8s_openapi::api::core::v1::ServiceAccount;

use super::BuildInput;

/// Builds the broker ServiceAccount.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> ServiceAccount {
    ServiceAccount {
        metadata: input.meta(&input.names.service_account),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}
