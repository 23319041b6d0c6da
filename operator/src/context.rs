//! Shared state of the reconcilers: the API client, the Event recorder, discovered API versions
//! and the metrics.
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::cluster::build::PdbApi;
use crate::metrics::Metrics;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "eddy-operator";

/// What every reconcile can reach.
#[derive(Clone)]
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Kubernetes Events about reconciled resources.
    pub recorder: Recorder,
    /// The PodDisruptionBudget API version the server offers.
    pub pdb_api: PdbApi,
    /// Reconcile counters and durations.
    pub metrics: Metrics,
}

impl Context {
    /// Builds the context, discovering which PodDisruptionBudget API the server serves.
    ///
    /// # Errors
    /// When the API server cannot be asked for its `policy` group.
    pub async fn new(
        client: Client,
        metrics: Metrics,
        instance: Option<String>,
    ) -> Result<Self, kube::Error> {
        let pdb_api = discover_pdb_api(&client).await?;
        tracing::info!(?pdb_api, "discovered PodDisruptionBudget API");
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.to_string(),
                instance,
            },
        );
        Ok(Self {
            client,
            recorder,
            pdb_api,
            metrics,
        })
    }
}

/// policy/v1 when served (Kubernetes ≥ 1.21), policy/v1beta1 otherwise.
///
/// # Errors
/// When discovery fails for a reason other than the group version being absent.
pub async fn discover_pdb_api(client: &Client) -> Result<PdbApi, kube::Error> {
    match client.list_api_group_resources("policy/v1").await {
        Ok(list)
            if list
                .resources
                .iter()
                .any(|r| r.name == "poddisruptionbudgets") =>
        {
            Ok(PdbApi::V1)
        }
        Ok(_) => Ok(PdbApi::V1beta1),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(PdbApi::V1beta1),
        Err(e) => Err(e),
    }
}
