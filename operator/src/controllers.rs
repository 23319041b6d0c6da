//! Wires the reconcilers into kube-runtime controllers and runs them until shutdown.
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use kube::runtime::{Controller, watcher};
use tracing::{debug, warn};

use crate::cluster;
use crate::context::Context;
use crate::crd::KafkaCluster;

/// Runs every controller until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let clusters = Controller::new(
        Api::<KafkaCluster>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<StatefulSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<ConfigMap>::all(client.clone()),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown.clone())
    .run(cluster::reconcile, cluster::error_policy, ctx.clone())
    .for_each(|r| async move {
        match r {
            Ok((obj, _)) => debug!(name = %obj.name, "reconciled KafkaCluster"),
            Err(e) => warn!(error = %e, "KafkaCluster controller"),
        }
    });
    let topics = crate::topic::controller(ctx.clone(), shutdown.clone());
    let users = crate::user::controller(ctx.clone(), shutdown.clone());
    let rebalances = crate::rebalance::controller(ctx, shutdown);
    futures::join!(clusters, topics, users, rebalances);
}
