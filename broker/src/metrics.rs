//! Prometheus metrics of the broker, served at /metrics on the admin port.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub request_errors: IntCounterVec,
    pub request_latency: HistogramVec,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    pub messages_in: IntCounter,
    pub connections: IntGauge,
    pub connections_total: IntCounter,
    pub partitions: IntGauge,
    pub log_size: IntGauge,
    pub produce_fsync_wait: Histogram,
    /// Consumer lag per group, topic and partition (filled by the group coordinator).
    pub consumer_lag: IntGaugeVec,
    /// Replication bytes that went through a throttle, by side (leader/follower).
    pub throttled_bytes: IntCounterVec,
    /// The most bytes a throttle let through in any one-second window, by side.
    pub throttled_window_max: IntGaugeVec,
    /// Replica fetchers this broker runs as a follower (one per leader and fetcher id).
    pub replica_fetchers: IntGauge,
    /// Partitions this broker's replica fetchers follow, by leader.
    pub replica_fetcher_partitions: IntGaugeVec,
    /// Follower fetches cut short because partitions joined their fetcher meanwhile.
    pub replica_fetches_cut_short: IntCounter,
    /// Record bytes of fetch responses sent from the segment files with sendfile.
    pub sendfile_bytes: IntCounter,
    /// Replicated mode (`ack.durability`): background fsyncs of partitions queued.
    pub background_fsyncs: IntCounter,
    /// Record bytes appended by producers, per topic (Kafka's BytesInPerSec{topic}).
    pub topic_bytes_in: IntCounterVec,
    /// Record bytes returned to fetchers, per topic (Kafka's BytesOutPerSec{topic}).
    pub topic_bytes_out: IntCounterVec,
    /// Records appended by producers, per topic (Kafka's MessagesInPerSec{topic}).
    pub topic_messages_in: IntCounterVec,
    /// Partitions this broker leads whose ISR is smaller than their replica set.
    pub under_replicated_partitions: IntGauge,
    /// Partitions this broker leads whose ISR is below min.insync.replicas.
    pub under_min_isr_partitions: IntGauge,
    /// Partitions without a leader (reported by the active controller, as in Kafka).
    pub offline_partitions: IntGauge,
    /// 1 on the active controller (and on a single node), 0 elsewhere.
    pub active_controller: IntGauge,
    /// Bytes of partition logs in each log directory.
    pub log_dir_used: IntGaugeVec,
    /// Bytes available to the broker on each log directory's file system.
    pub log_dir_free: IntGaugeVec,
    /// Size of each log directory's file system.
    pub log_dir_total: IntGaugeVec,
    /// Requests (or parts of them) the authorizer refused, by resource type and operation.
    pub authorization_denials: IntCounterVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric names below are static and valid; a failure is a programming error caught by tests.
    r.unwrap_or_else(|e| panic!("invalid metric definition: {e}"))
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("eddy".into()), None).unwrap_or_default();
        let requests = must(IntCounterVec::new(
            Opts::new("requests_total", "Kafka requests handled, by API"),
            &["api"],
        ));
        let request_errors = must(IntCounterVec::new(
            Opts::new(
                "request_errors_total",
                "Kafka requests that failed to decode or were unsupported, by API",
            ),
            &["api"],
        ));
        let request_latency = must(HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time to handle a Kafka request, by API",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["api"],
        ));
        let bytes_in = must(IntCounter::new(
            "bytes_in_total",
            "Record bytes appended by producers",
        ));
        let bytes_out = must(IntCounter::new(
            "bytes_out_total",
            "Record bytes returned to fetchers",
        ));
        let messages_in = must(IntCounter::new(
            "messages_in_total",
            "Records appended by producers",
        ));
        let connections = must(IntGauge::new("connections", "Open client connections"));
        let connections_total = must(IntCounter::new(
            "connections_total",
            "Client connections accepted",
        ));
        let partitions = must(IntGauge::new("partitions", "Partitions served"));
        let log_size = must(IntGauge::new(
            "log_size_bytes",
            "Bytes stored in partition logs",
        ));
        let produce_fsync_wait = must(Histogram::with_opts(
            HistogramOpts::new(
                "produce_fsync_wait_seconds",
                "Time acks=1/all producers wait for the group-commit fsync",
            )
            .buckets(vec![
                0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
            ]),
        ));
        let consumer_lag = must(IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "High watermark minus committed offset, per consumer group and partition",
            ),
            &["group", "topic", "partition"],
        ));
        let throttled_bytes = must(IntCounterVec::new(
            Opts::new(
                "replication_throttled_bytes_total",
                "Replication bytes moved under a replication throttle, by side",
            ),
            &["side"],
        ));
        let throttled_window_max = must(IntGaugeVec::new(
            Opts::new(
                "replication_throttled_window_max_bytes",
                "Most bytes a replication throttle let through in one one-second window, by side",
            ),
            &["side"],
        ));
        let replica_fetchers = must(IntGauge::new(
            "replica_fetchers",
            "Replica fetchers this broker runs as a follower (num.replica.fetchers per leader)",
        ));
        let replica_fetcher_partitions = must(IntGaugeVec::new(
            Opts::new(
                "replica_fetcher_partitions",
                "Partitions this broker's replica fetchers follow, by leader",
            ),
            &["leader"],
        ));
        let replica_fetches_cut_short = must(IntCounter::new(
            "replica_fetches_cut_short_total",
            "Follower fetches cut short because partitions joined their replica fetcher meanwhile",
        ));
        let sendfile_bytes = must(IntCounter::new(
            "fetch_sendfile_bytes_total",
            "Record bytes of fetch responses sent from the segment files with sendfile (plaintext)",
        ));
        let background_fsyncs = must(IntCounter::new(
            "log_background_fsyncs_total",
            "Background fsyncs of partitions queued in the replicated mode (ack.durability), per flush.messages, flush.ms and log.flush.scheduler.interval.ms",
        ));
        let per_topic =
            |name: &str, help: &str| must(IntCounterVec::new(Opts::new(name, help), &["topic"]));
        let topic_bytes_in = per_topic(
            "topic_bytes_in_total",
            "Record bytes appended by producers, per topic",
        );
        let topic_bytes_out = per_topic(
            "topic_bytes_out_total",
            "Record bytes returned to fetchers, per topic",
        );
        let topic_messages_in = per_topic(
            "topic_messages_in_total",
            "Records appended by producers, per topic",
        );
        let under_replicated_partitions = must(IntGauge::new(
            "under_replicated_partitions",
            "Partitions led by this broker whose ISR is smaller than their replica set",
        ));
        let under_min_isr_partitions = must(IntGauge::new(
            "under_min_isr_partitions",
            "Partitions led by this broker whose ISR is below min.insync.replicas",
        ));
        let offline_partitions = must(IntGauge::new(
            "offline_partitions",
            "Partitions without a leader (reported by the active controller)",
        ));
        let active_controller = must(IntGauge::new(
            "active_controller",
            "1 if this broker is the active controller (or a single node), else 0",
        ));
        let per_dir =
            |name: &str, help: &str| must(IntGaugeVec::new(Opts::new(name, help), &["dir"]));
        let log_dir_used = per_dir(
            "log_dir_used_bytes",
            "Bytes of partition logs, per log directory",
        );
        let log_dir_free = per_dir(
            "log_dir_free_bytes",
            "Bytes available on the log directory's file system, per log directory",
        );
        let log_dir_total = per_dir(
            "log_dir_total_bytes",
            "Size of the log directory's file system, per log directory",
        );
        let authorization_denials = must(IntCounterVec::new(
            Opts::new(
                "authorization_denials_total",
                "Operations the ACL authorizer refused, by resource type and operation",
            ),
            &["resource_type", "operation"],
        ));
        for c in [
            Box::new(authorization_denials.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(requests.clone()),
            Box::new(request_errors.clone()),
            Box::new(request_latency.clone()),
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(messages_in.clone()),
            Box::new(connections.clone()),
            Box::new(connections_total.clone()),
            Box::new(partitions.clone()),
            Box::new(log_size.clone()),
            Box::new(produce_fsync_wait.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(throttled_bytes.clone()),
            Box::new(throttled_window_max.clone()),
            Box::new(replica_fetchers.clone()),
            Box::new(replica_fetcher_partitions.clone()),
            Box::new(replica_fetches_cut_short.clone()),
            Box::new(sendfile_bytes.clone()),
            Box::new(background_fsyncs.clone()),
            Box::new(topic_bytes_in.clone()),
            Box::new(topic_bytes_out.clone()),
            Box::new(topic_messages_in.clone()),
            Box::new(under_replicated_partitions.clone()),
            Box::new(under_min_isr_partitions.clone()),
            Box::new(offline_partitions.clone()),
            Box::new(active_controller.clone()),
            Box::new(log_dir_used.clone()),
            Box::new(log_dir_free.clone()),
            Box::new(log_dir_total.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            authorization_denials,
            registry,
            requests,
            request_errors,
            request_latency,
            bytes_in,
            bytes_out,
            messages_in,
            connections,
            connections_total,
            partitions,
            log_size,
            produce_fsync_wait,
            consumer_lag,
            throttled_bytes,
            throttled_window_max,
            replica_fetchers,
            replica_fetcher_partitions,
            replica_fetches_cut_short,
            sendfile_bytes,
            background_fsyncs,
            topic_bytes_in,
            topic_bytes_out,
            topic_messages_in,
            under_replicated_partitions,
            under_min_isr_partitions,
            offline_partitions,
            active_controller,
            log_dir_used,
            log_dir_free,
            log_dir_total,
        }
    }

    /// Counts an append of `bytes` record bytes holding `messages` records to `topic`.
    pub fn count_in(&self, topic: &str, bytes: u64, messages: u64) {
        self.bytes_in.inc_by(bytes);
        self.messages_in.inc_by(messages);
        self.topic_bytes_in
            .with_label_values(&[topic])
            .inc_by(bytes);
        self.topic_messages_in
            .with_label_values(&[topic])
            .inc_by(messages);
    }

    /// Counts `bytes` record bytes returned to a fetcher from `topic`.
    pub fn count_out(&self, topic: &str, bytes: u64) {
        self.bytes_out.inc_by(bytes);
        if bytes > 0 {
            self.topic_bytes_out
                .with_label_values(&[topic])
                .inc_by(bytes);
        }
    }

    /// Drops a deleted topic's label sets, so that it no longer appears in scrapes.
    pub fn forget_topic(&self, topic: &str) {
        for v in [
            &self.topic_bytes_in,
            &self.topic_bytes_out,
            &self.topic_messages_in,
        ] {
            // Absent when nothing was counted for the topic yet: nothing to drop.
            let _ = v.remove_label_values(&[topic]);
        }
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
