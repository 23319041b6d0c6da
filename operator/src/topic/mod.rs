//! KafkaTopic reconciler: fetch the cluster → plan (pure) → Kafka admin operations through one
//! of its brokers (they form one cluster; the operator's authenticated connection on a secure
//! cluster, see `kafka_admin::target`) → status. A finalizer deletes the topic from the brokers, and is released at once when
//! the cluster is gone.
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::{Controller, watcher};
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::conditions::{condition, now_rfc3339, set_condition};
use crate::context::Context;
use crate::crd::{
    ConditionStatus, KafkaCluster, KafkaTopic, KafkaTopicStatus, PAUSE_ANNOTATION, condition_type,
    reason,
};
use crate::kafka_admin::target::{self, Target};
use crate::kafka_admin::{self, AdminClient};
use plan::{ClusterFacts, ObservedTopic, Step};

/// Metric/kind label of this reconciler.
pub const KIND: &str = "KafkaTopic";
/// Finalizer that deletes the topic from the brokers.
pub const FINALIZER: &str = "eddy.io/topic";
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the KafkaTopic reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the cluster or topics failed.
    #[error("fetching cluster: {0}")]
    Fetch(#[source] kube::Error),
    /// The admin connection's CA or credentials cannot be read.
    #[error("admin connection: {0}")]
    Target(#[source] target::Error),
    /// A Kafka admin call failed.
    #[error("kafka admin on {address}: {source}")]
    Kafka {
        /// Broker address.
        address: String,
        /// Cause.
        source: kafka_admin::Error,
    },
    /// Writing status failed.
    #[error("patching status: {0}")]
    Status(#[source] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl Error {
    fn step(&self) -> &'static str {
        match self {
            Self::Fetch(_) => "fetch",
            Self::Target(_) => "target",
            Self::Kafka { .. } => "kafka",
            Self::Status(_) => "status",
            Self::Finalizer(_) => "finalizer",
        }
    }
}

/// Runs the KafkaTopic controller until `shutdown`.
pub async fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    Controller::new(
        Api::<KafkaTopic>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|r| async move {
        if let Err(e) = r {
            warn!(error = %e, "KafkaTopic controller");
        }
    })
    .await;
}

/// Reconciles one KafkaTopic (with its finalizer).
///
/// # Errors
/// Kubernetes or Kafka failures; retried by [`error_policy`].
#[instrument(skip_all, fields(namespace = topic.namespace(), name = topic.name_any()))]
pub async fn reconcile(topic: Arc<KafkaTopic>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let ns = topic.namespace().unwrap_or_default();
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, topic, |event| async {
        match event {
            finalizer::Event::Apply(t) => apply(&t, &ctx).await,
            finalizer::Event::Cleanup(t) => cleanup(&t, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn cluster_ready(cluster: &KafkaCluster) -> bool {
    cluster
        .status
        .as_ref()
        .is_some_and(|s| crate::crd::brokers_serving(&s.conditions))
}

async fn apply(topic: &KafkaTopic, ctx: &Context) -> Result<Action, Error> {
    let ns = topic.namespace().unwrap_or_default();
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), &ns);
    let clusters: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = topic.metadata.generation;
    let name = topic.kafka_name();
    let mut status = topic.status.clone().unwrap_or_default();
    let now = now_rfc3339();
    let paused = topic
        .annotations()
        .get(PAUSE_ANNOTATION)
        .is_some_and(|v| v == "true");
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::RECONCILIATION_PAUSED,
            if paused {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason::PAUSED,
            "",
            generation,
        ),
        &now,
    );
    if paused {
        patch_status(&api, topic, &status).await?;
        return Ok(Action::await_change());
    }

    let not_ready = |status: &mut KafkaTopicStatus, reason: &str, message: String| {
        set_condition(
            &mut status.conditions,
            condition(
                condition_type::READY,
                ConditionStatus::False,
                reason,
                message,
                generation,
            ),
            &now,
        );
    };
    let Some(cluster) = clusters
        .get_opt(&topic.spec.cluster)
        .await
        .map_err(Error::Fetch)?
    else {
        not_ready(
            &mut status,
            reason::CLUSTER_NOT_FOUND,
            format!("KafkaCluster {} not found", topic.spec.cluster),
        );
        patch_status(&api, topic, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let target = if cluster_ready(&cluster) {
        match target::resolve(&ctx.client, &cluster).await {
            Ok(t) => Some(t),
            Err(e) => {
                // The cluster reconcile has not published the CA or the operator's password
                // yet: wait for it, as for readiness.
                not_ready(
                    &mut status,
                    reason::CLUSTER_NOT_READY,
                    format!("KafkaCluster {}: {e}", topic.spec.cluster),
                );
                patch_status(&api, topic, &status).await?;
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
        }
    } else {
        None
    };
    let Some(target) = target.filter(|t| !t.endpoints.is_empty()) else {
        not_ready(
            &mut status,
            reason::CLUSTER_NOT_READY,
            format!("KafkaCluster {} is not ready", topic.spec.cluster),
        );
        patch_status(&api, topic, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(10)));
    };

    let facts = ClusterFacts {
        brokers: cluster.spec.brokers,
        // The brokers form one Kafka cluster: a topic can have a replica on each.
        replicas_per_topic: cluster.spec.brokers,
        partition_budget: match cluster.spec.limits.as_ref().and_then(|l| l.max_partitions) {
            Some(max) => Some((max, partitions_of_other_topics(&api, topic).await?)),
            None => None,
        },
    };
    let converged = converge_on_brokers(topic, ctx, &name, &target, facts).await;
    let described = match converged {
        Ok(Converged::Done(d)) => d,
        Ok(Converged::Refused(refusal)) => {
            not_ready(&mut status, refusal.reason, refusal.message.clone());
            set_condition(
                &mut status.conditions,
                condition(
                    condition_type::WARNING,
                    ConditionStatus::True,
                    refusal.reason,
                    refusal.message.clone(),
                    generation,
                ),
                &now,
            );
            publish(
                ctx,
                topic,
                EventType::Warning,
                refusal.reason,
                refusal.message,
            )
            .await;
            patch_status(&api, topic, &status).await?;
            return Ok(Action::await_change());
        }
        Err(e) => {
            // Report the Kafka failure in status (clearly when the broker lacks the API), then retry.
            let why = match &e {
                Error::Kafka {
                    source: kafka_admin::Error::Wire(eddy_kafka_client::Error::Unsupported { .. }),
                    ..
                } => reason::NOT_SUPPORTED,
                _ => reason::KAFKA_ERROR,
            };
            not_ready(&mut status, why, e.to_string());
            patch_status(&api, topic, &status).await?;
            return Err(e);
        }
    };
    status.topic_name = Some(name.clone());
    status.replicas = Some(i32::from(plan::effective_replicas(&topic.spec, facts)));
    status.partitions = described.as_ref().map(|d| d.partitions);
    status.topic_id = described.and_then(|d| d.topic_id);
    status.observed_generation = generation;
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::WARNING,
            ConditionStatus::False,
            reason::NO_WARNINGS,
            "",
            generation,
        ),
        &now,
    );
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::READY,
            ConditionStatus::True,
            reason::READY,
            format!("topic {name} exists in the cluster"),
            generation,
        ),
        &now,
    );
    patch_status(&api, topic, &status).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Result of converging the topic on every broker.
enum Converged {
    /// Converged; the last broker's description.
    Done(Option<kafka_admin::TopicDescription>),
    /// The spec cannot be applied.
    Refused(plan::Refusal),
}

/// Connects to the first broker of `target` that answers.
async fn connect_any(target: &Target) -> Result<(String, AdminClient), Error> {
    kafka_admin::connect_any(target, ADMIN_TIMEOUT)
        .await
        .map_err(|(address, source)| Error::Kafka { address, source })
}

async fn converge_on_brokers(
    topic: &KafkaTopic,
    ctx: &Context,
    name: &str,
    target: &Target,
    facts: ClusterFacts,
) -> Result<Converged, Error> {
    let described;
    {
        let (address, mut admin) = connect_any(target).await?;
        let address = &address;
        let kafka = |source| Error::Kafka {
            address: address.clone(),
            source,
        };
        let observed = match admin.describe_topic(name).await.map_err(kafka)? {
            Some(d) => Some(ObservedTopic {
                partitions: d.partitions,
                config: admin.topic_config(name).await.map_err(kafka)?,
            }),
            None => None,
        };
        let steps = match plan::plan(&topic.spec, observed.as_ref(), facts) {
            Ok(steps) => steps,
            Err(refusal) => return Ok(Converged::Refused(refusal)),
        };
        for step in &steps {
            match step {
                Step::Create {
                    partitions,
                    replicas,
                    config,
                } => {
                    admin
                        .create_topic(name, *partitions, *replicas, config)
                        .await
                        .map_err(kafka)?;
                    publish(
                        ctx,
                        topic,
                        EventType::Normal,
                        "Created",
                        format!("created topic {name} on {address}"),
                    )
                    .await;
                }
                Step::AddPartitions(n) => {
                    admin.create_partitions(name, *n).await.map_err(kafka)?;
                    publish(
                        ctx,
                        topic,
                        EventType::Normal,
                        "PartitionsAdded",
                        format!("{name} now has {n} partitions on {address}"),
                    )
                    .await;
                }
                Step::AlterConfig { set, delete } => {
                    admin
                        .alter_topic_config(name, set, delete)
                        .await
                        .map_err(kafka)?;
                    publish(
                        ctx,
                        topic,
                        EventType::Normal,
                        "ConfigAltered",
                        format!("altered config of {name} on {address}"),
                    )
                    .await;
                }
            }
        }
        if !steps.is_empty() {
            info!(topic = %name, %address, steps = steps.len(), "topic converged");
        }
        described = admin.describe_topic(name).await.map_err(kafka)?;
    }
    Ok(Converged::Done(described))
}

async fn partitions_of_other_topics(
    api: &Api<KafkaTopic>,
    topic: &KafkaTopic,
) -> Result<i32, Error> {
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(Error::Fetch)?;
    Ok(all
        .items
        .iter()
        .filter(|t| t.spec.cluster == topic.spec.cluster && t.metadata.uid != topic.metadata.uid)
        .map(|t| t.spec.partitions)
        .sum())
}

async fn cleanup(topic: &KafkaTopic, ctx: &Context) -> Result<Action, Error> {
    let ns = topic.namespace().unwrap_or_default();
    let clusters: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let name = topic.kafka_name();
    let cluster = clusters
        .get_opt(&topic.spec.cluster)
        .await
        .map_err(Error::Fetch)?;
    // Cluster gone or going: nothing to clean on brokers that no longer exist; never block.
    let Some(cluster) = cluster.filter(|c| c.metadata.deletion_timestamp.is_none()) else {
        info!(topic = %name, "cluster gone: releasing finalizer");
        return Ok(Action::await_change());
    };
    let target = target::resolve(&ctx.client, &cluster)
        .await
        .map_err(Error::Target)?;
    let (address, mut admin) = connect_any(&target).await?;
    admin
        .delete_topic(&name)
        .await
        .map_err(|source| Error::Kafka { address, source })?;
    publish(
        ctx,
        topic,
        EventType::Normal,
        "Deleted",
        format!("deleted topic {name}"),
    )
    .await;
    Ok(Action::await_change())
}

async fn patch_status(
    api: &Api<KafkaTopic>,
    topic: &KafkaTopic,
    status: &KafkaTopicStatus,
) -> Result<(), Error> {
    api.patch_status(
        &topic.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map_err(Error::Status)?;
    Ok(())
}

async fn publish(ctx: &Context, topic: &KafkaTopic, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &topic.object_ref(&())).await {
        warn!(error = %e, "publishing event failed");
    }
}

/// Requeue policy after a failed reconcile.
#[allow(clippy::needless_pass_by_value)] // signature required by `Controller::run`
pub fn error_policy(_topic: Arc<KafkaTopic>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, "KafkaTopic reconcile failed");
    ctx.metrics.reconcile_failed(KIND, error.step());
    Action::requeue(Duration::from_secs(10))
}
