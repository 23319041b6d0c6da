//! Kafka 4.x broker keys that users set in `server.properties` and that Eddy accepts and
//! validates (type and Kafka's range) but that change nothing, or nothing yet: each doc says
//! why. DescribeConfigs shows them with Kafka's defaults. Keys whose job Eddy does with a
//! command-line flag (`node.id`, `listeners`, `log.dirs`, ...) are refused with the flag to use,
//! so that a value set in the file is never silently ignored.

use super::key::{BrokerKey, ConfigType};

const fn inert(
    name: &'static str,
    default: &'static str,
    ty: ConfigType,
    dynamic: bool,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        default,
        ty,
        dynamic,
        doc,
    }
}

/// Accepted Kafka broker keys that change nothing yet (see each doc): one line per key,
/// `inert(name, Kafka's default, type, dynamic, doc)`.
#[rustfmt::skip]
pub const ACCEPTED_BROKER_KEYS: &[BrokerKey] = &[
    inert("process.roles", "broker,controller", ConfigType::List, false, "Accepted for compatibility: every Eddy broker is a broker, and a controller when it is named in --controller-quorum-voters (Kafka's combined mode)."),
    inert("num.network.threads", "3", ConfigType::Int, true, "Changes nothing: connections are served by the tokio runtime's worker threads."),
    inert("num.io.threads", "8", ConfigType::Int, true, "Changes nothing: requests are handled on the tokio runtime's worker threads."),
    inert("background.threads", "10", ConfigType::Int, true, "Changes nothing: background work runs on the tokio runtime."),
    inert("num.replica.fetchers", "1", ConfigType::Int, true, "Replica fetchers per leader this broker follows (partitions hashed across them as in Kafka); each sends one Fetch for all of its partitions. A change applies at the next metadata change."),
    inert("num.recovery.threads.per.data.dir", "2", ConfigType::Int, true, "Changes nothing: logs are recovered one partition at a time."),
    inert("num.replica.alter.log.dirs.threads", "", ConfigType::Int, false, "Changes nothing (one log directory; AlterReplicaLogDirs is not served)."),
    inert("queued.max.requests", "500", ConfigType::Int, false, "Changes nothing: each connection reads its next request once the previous one is handled (pipelining, in-order responses)."),
    inert("queued.max.request.bytes", "-1", ConfigType::Long, false, "Changes nothing yet."),
    inert("socket.send.buffer.bytes", "102400", ConfigType::Int, false, "Changes nothing: the kernel's default socket buffers are used."),
    inert("socket.receive.buffer.bytes", "102400", ConfigType::Int, false, "Changes nothing: the kernel's default socket buffers are used."),
    inert("socket.request.max.bytes", "104857600", ConfigType::Int, false, "Changes nothing: the request frame limit is fixed at 100 MiB."),
    inert("socket.listen.backlog.size", "50", ConfigType::Int, false, "Changes nothing: the listen backlog is the runtime's default."),
    inert("socket.connection.setup.timeout.ms", "10000", ConfigType::Long, false, "Changes nothing yet (inter-broker connections use their own timeouts)."),
    inert("socket.connection.setup.timeout.max.ms", "30000", ConfigType::Long, false, "Changes nothing yet."),
    inert("connections.max.idle.ms", "600000", ConfigType::Long, false, "Changes nothing yet: idle connections are not closed by the broker."),
    inert("fetch.max.bytes", "57671680", ConfigType::Int, false, "Changes nothing yet: a fetch is bounded by the request's own max_bytes."),
    inert("fetch.purgatory.purge.interval.requests", "1000", ConfigType::Int, false, "Changes nothing (no purgatory: waiting fetches are woken by the high watermark)."),
    inert("producer.purgatory.purge.interval.requests", "1000", ConfigType::Int, false, "Changes nothing (no purgatory)."),
    inert("delete.records.purgatory.purge.interval.requests", "1", ConfigType::Int, false, "Changes nothing (no purgatory)."),
    inert("max.incremental.fetch.session.cache.slots", "1000", ConfigType::Int, false, "How many incremental fetch sessions (KIP-227) the broker keeps; 0 disables them (every fetch is then a full fetch)."),
    inert("request.timeout.ms", "30000", ConfigType::Int, false, "Changes nothing yet."),
    inert("create.topic.policy.class.name", "", ConfigType::Class, false, "Changes nothing: no topic creation policy plug-ins."),
    inert("alter.config.policy.class.name", "", ConfigType::Class, false, "Changes nothing: no alter-config policy plug-ins."),
    inert("early.start.listeners", "", ConfigType::String, false, "Changes nothing: listeners start once the logs are recovered."),
    inert("initial.broker.registration.timeout.ms", "60000", ConfigType::Int, false, "Changes nothing yet."),
    inert("broker.heartbeat.interval.ms", "2000", ConfigType::Int, false, "Changes nothing yet: the heartbeat interval follows --broker-session-timeout-ms."),
    inert("unstable.api.versions.enable", "false", ConfigType::Boolean, false, "Changes nothing: only stable API versions are served."),
    inert("log.retention.hours", "168", ConfigType::Int, false, "Retention in hours, used when log.retention.ms and log.retention.minutes are not set (as in Kafka)."),
    inert("log.retention.minutes", "", ConfigType::Int, false, "Retention in minutes, used when log.retention.ms is not set (as in Kafka)."),
    inert("log.roll.hours", "168", ConfigType::Int, false, "Segment age before a roll in hours, used when log.roll.ms is not set (as in Kafka)."),
    inert("log.roll.jitter.hours", "0", ConfigType::Int, false, "Changes nothing yet (segment.jitter.ms)."),
    inert("log.flush.scheduler.interval.ms", "1000", ConfigType::Long, true, "With ack.durability=replicated: as in Kafka, how often the flusher looks for partitions to fsync by time, so a partition is fsynced in the background at most max(flush.ms, this) after its first unflushed record (or once flush.messages are unflushed). Eddy's default is 1000 (Kafka's is never: the OS writes the page cache back); 0 fsyncs after each append. With ack.durability=fsync it changes nothing: acknowledged writes are fsynced first (group commit, log.flush.interval.ms)."),
    inert("log.flush.offset.checkpoint.interval.ms", "60000", ConfigType::Int, false, "Changes nothing: recovery points are not checkpointed separately."),
    inert("log.flush.start.offset.checkpoint.interval.ms", "60000", ConfigType::Int, false, "Changes nothing: the log start offset is stored with the segments."),
    inert("log.initial.task.delay.ms", "30000", ConfigType::Long, false, "Changes nothing yet."),
    inert("log.cleaner.enable", "true", ConfigType::Boolean, false, "Runs the log cleaner that compacts cleanup.policy=compact topics and __consumer_offsets (read at start)."),
    inert("log.cleaner.threads", "1", ConfigType::Int, true, "Log cleaner tasks (read at start); the dedupe buffer is split between them."),
    inert("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", ConfigType::Double, true, "Bytes per second the log cleaners read and write together (read at start)."),
    inert("log.cleaner.dedupe.buffer.size", "134217728", ConfigType::Long, true, "Memory for the cleaners' key maps, 24 bytes a key (read at start)."),
    inert("log.cleaner.io.buffer.size", "524288", ConfigType::Int, true, "Read and write buffer of a log cleaner (read at start)."),
    inert("log.cleaner.io.buffer.load.factor", "0.9", ConfigType::Double, true, "How full a cleaner's key map gets (read at start)."),
    inert("log.cleaner.backoff.ms", "15000", ConfigType::Long, true, "How long a log cleaner sleeps when no log is due (read at start)."),
    inert("remote.log.storage.system.enable", "false", ConfigType::Boolean, false, "Tiered storage (KIP-405) is not built: only false is accepted."),
    inert("replica.fetch.max.bytes", "1048576", ConfigType::Int, false, "Bytes a follower asks for per partition in each fetch (at least one whole batch)."),
    inert("replica.fetch.min.bytes", "1", ConfigType::Int, false, "Bytes a follower's fetch waits for on the leader (up to replica.fetch.wait.max.ms)."),
    inert("replica.fetch.wait.max.ms", "500", ConfigType::Int, false, "How long a follower's fetch waits on the leader for replica.fetch.min.bytes (the leader caps it at 5 s)."),
    inert("replica.fetch.backoff.ms", "1000", ConfigType::Int, false, "How long a follower stops fetching a partition after the leader refused it or appending failed."),
    inert("replica.fetch.response.max.bytes", "10485760", ConfigType::Int, false, "Most record bytes in one follower fetch response (the first partition with data returns at least one whole batch)."),
    inert("replica.socket.timeout.ms", "30000", ConfigType::Int, false, "Changes nothing yet."),
    inert("replica.socket.receive.buffer.bytes", "65536", ConfigType::Int, false, "Changes nothing: the kernel's default socket buffers are used."),
    inert("replica.high.watermark.checkpoint.interval.ms", "5000", ConfigType::Long, false, "Changes nothing: the high watermark is recovered from the log."),
    inert("replica.selector.class", "", ConfigType::Class, false, "Changes nothing: consumers always fetch from the leader (no KIP-392 rack-aware follower fetching)."),
    inert("replication.quota.window.num", "11", ConfigType::Int, false, "Changes nothing yet (replication throttles use their own window)."),
    inert("replication.quota.window.size.seconds", "1", ConfigType::Int, false, "Changes nothing yet."),
    inert("alter.log.dirs.replication.quota.window.num", "11", ConfigType::Int, false, "Changes nothing (one log directory)."),
    inert("alter.log.dirs.replication.quota.window.size.seconds", "1", ConfigType::Int, false, "Changes nothing (one log directory)."),
    inert("controller.quota.window.num", "11", ConfigType::Int, false, "Changes nothing: no controller mutation quotas."),
    inert("controller.quota.window.size.seconds", "1", ConfigType::Int, false, "Changes nothing: no controller mutation quotas."),
    inert("client.quota.callback.class", "", ConfigType::Class, false, "Changes nothing: no quota callback plug-ins."),
    inert("controller.quorum.bootstrap.servers", "", ConfigType::List, false, "Changes nothing: the quorum is given by --controller-quorum-voters."),
    inert("controller.quorum.election.timeout.ms", "1000", ConfigType::Int, false, "Changes nothing yet: the Raft timeouts are fixed."),
    inert("controller.quorum.election.backoff.max.ms", "1000", ConfigType::Int, false, "Changes nothing yet."),
    inert("controller.quorum.fetch.timeout.ms", "2000", ConfigType::Int, false, "Changes nothing yet."),
    inert("controller.quorum.append.linger.ms", "25", ConfigType::Int, false, "Changes nothing yet."),
    inert("controller.quorum.request.timeout.ms", "2000", ConfigType::Int, false, "Changes nothing yet."),
    inert("controller.quorum.retry.backoff.ms", "20", ConfigType::Int, false, "Changes nothing yet."),
    inert("metadata.log.dir", "", ConfigType::String, false, "Changes nothing: the metadata log lives in the data directory."),
    inert("metadata.log.segment.bytes", "1073741824", ConfigType::Int, false, "Changes nothing yet."),
    inert("metadata.log.segment.ms", "604800000", ConfigType::Long, false, "Changes nothing yet."),
    inert("metadata.max.retention.bytes", "104857600", ConfigType::Long, false, "Changes nothing yet."),
    inert("metadata.max.retention.ms", "604800000", ConfigType::Long, false, "Changes nothing yet."),
    inert("metadata.max.idle.interval.ms", "500", ConfigType::Int, false, "Changes nothing yet."),
    inert("sasl.mechanism.controller.protocol", "GSSAPI", ConfigType::String, false, "Changes nothing: the controller transport has no SASL (see controller.listener.names)."),
    inert("group.max.size", "2147483647", ConfigType::Int, false, "Changes nothing yet: groups are not limited in size."),
    inert("group.coordinator.rebalance.protocols", "classic,consumer", ConfigType::List, false, "Changes nothing: both the classic and the KIP-848 consumer protocol are always on."),
    inert("group.coordinator.threads", "4", ConfigType::Int, false, "Changes nothing: the coordinator runs on the tokio runtime."),
    inert("group.consumer.min.session.timeout.ms", "45000", ConfigType::Int, false, "Changes nothing: there are no per-group overrides to bound (every KIP-848 group uses group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms)."),
    inert("group.consumer.max.session.timeout.ms", "60000", ConfigType::Int, false, "Changes nothing: there are no per-group overrides to bound (every KIP-848 group uses group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms)."),
    inert("group.consumer.min.heartbeat.interval.ms", "5000", ConfigType::Int, false, "Changes nothing: there are no per-group overrides to bound (every KIP-848 group uses group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms)."),
    inert("group.consumer.max.heartbeat.interval.ms", "15000", ConfigType::Int, false, "Changes nothing: there are no per-group overrides to bound (every KIP-848 group uses group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms)."),
    inert("group.consumer.assignors", "uniform,range", ConfigType::List, false, "Changes nothing: uniform (the default) and range are always offered."),
    inert("share.coordinator.state.topic.replication.factor", "3", ConfigType::Short, false, "Changes nothing: share groups (KIP-932) are not built."),
    inert("share.coordinator.state.topic.min.isr", "2", ConfigType::Short, false, "Changes nothing: share groups (KIP-932) are not built."),
    inert("offsets.retention.check.interval.ms", "600000", ConfigType::Long, false, "Changes nothing yet: expired offsets are dropped when the coordinator loads."),
    inert("offsets.topic.segment.bytes", "104857600", ConfigType::Int, false, "Segment size of __consumer_offsets when it is created (sealed segments are what the log cleaner compacts)."),
    inert("offsets.topic.compression.codec", "0", ConfigType::Int, false, "Changes nothing: the coordinator writes uncompressed batches."),
    inert("offsets.load.buffer.size", "5242880", ConfigType::Int, false, "Changes nothing: groups are replayed batch by batch."),
    inert("offsets.commit.timeout.ms", "5000", ConfigType::Int, false, "Changes nothing yet: a commit waits for the ISR up to the request's limits."),
    inert("transaction.state.log.replication.factor", "3", ConfigType::Short, false, "Cluster mode: replication factor of __transaction_state when it is created (capped at the cluster size)."),
    inert("transaction.state.log.min.isr", "2", ConfigType::Int, false, "Cluster mode: min.insync.replicas of __transaction_state when it is created (at most its replication factor)."),
    inert("transaction.state.log.segment.bytes", "104857600", ConfigType::Int, false, "Segment size of __transaction_state when it is created (sealed segments are what the log cleaner compacts)."),
    inert("transaction.state.log.load.buffer.size", "5242880", ConfigType::Int, false, "Changes nothing: the transaction state is replayed batch by batch."),
    inert("transaction.max.timeout.ms", "900000", ConfigType::Int, false, "The largest transaction.timeout.ms InitProducerId accepts (INVALID_TRANSACTION_TIMEOUT above it)."),
    inert("transactional.id.expiration.ms", "604800000", ConfigType::Int, false, "Transactional ids without an open transaction and unchanged for this long are removed (a tombstone in __transaction_state)."),
    inert("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000", ConfigType::Int, false, "How often the coordinator aborts transactions past their timeout (and retries unfinished completions)."),
    inert("transaction.remove.expired.transaction.cleanup.interval.ms", "3600000", ConfigType::Int, false, "How often the coordinator removes expired transactional ids."),
    inert("transaction.partition.verification.enable", "true", ConfigType::Boolean, true, "Changes nothing: Produce always verifies transactional batches with the coordinator (KIP-890), it cannot be turned off."),
    inert("producer.id.expiration.ms", "86400000", ConfigType::Int, true, "Changes nothing yet: idempotent-producer state is kept for as long as the log holds its batches."),
    inert("producer.id.expiration.check.interval.ms", "600000", ConfigType::Int, false, "Changes nothing yet."),
    inert("metric.reporters", "", ConfigType::List, true, "Changes nothing: metrics are served in the Prometheus format at the admin address's /metrics."),
    inert("metrics.num.samples", "2", ConfigType::Int, false, "Changes nothing (Prometheus metrics)."),
    inert("metrics.sample.window.ms", "30000", ConfigType::Long, false, "Changes nothing (Prometheus metrics)."),
    inert("metrics.recording.level", "INFO", ConfigType::String, false, "Changes nothing (Prometheus metrics)."),
    inert("kafka.metrics.reporters", "", ConfigType::List, false, "Changes nothing (Prometheus metrics)."),
    inert("kafka.metrics.polling.interval.secs", "10", ConfigType::Int, false, "Changes nothing (Prometheus metrics)."),
    inert("security.inter.broker.protocol", "PLAINTEXT", ConfigType::String, false, "Changes nothing: name the inter-broker listener with inter.broker.listener.name; its protocol comes from listener.security.protocol.map."),
    inert("principal.builder.class", "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder", ConfigType::Class, false, "Changes nothing: principals are built as Kafka's default builder does (SASL user name, mapped certificate subject)."),
    inert("security.providers", "", ConfigType::String, false, "Changes nothing: rustls with the ring provider."),
    inert("ssl.keymanager.algorithm", "SunX509", ConfigType::String, false, "Changes nothing (rustls)."),
    inert("ssl.trustmanager.algorithm", "PKIX", ConfigType::String, false, "Changes nothing (rustls)."),
    inert("ssl.secure.random.implementation", "", ConfigType::String, false, "Changes nothing (the ring provider's random source)."),
    inert("ssl.provider", "", ConfigType::String, false, "Changes nothing (rustls with the ring provider)."),
    inert("ssl.engine.factory.class", "", ConfigType::Class, false, "Changes nothing (rustls)."),
    inert("ssl.allow.dn.changes", "false", ConfigType::Boolean, false, "Changes nothing yet: a reloaded certificate is not compared with the previous one."),
    inert("ssl.allow.san.changes", "false", ConfigType::Boolean, false, "Changes nothing yet: a reloaded certificate is not compared with the previous one."),
    inert("sasl.jaas.config", "", ConfigType::Password, false, "Changes nothing on a broker: give credentials per listener and mechanism, listener.name.<listener>.<mechanism>.sasl.jaas.config."),
    inert("sasl.server.max.receive.size", "524288", ConfigType::Int, false, "Changes nothing yet: SASL tokens are bounded by the request frame limit."),
    inert("sasl.kerberos.service.name", "", ConfigType::String, false, "Changes nothing: GSSAPI (Kerberos) is not supported."),
    inert("sasl.kerberos.kinit.cmd", "/usr/bin/kinit", ConfigType::String, false, "Changes nothing: GSSAPI (Kerberos) is not supported."),
    inert("sasl.kerberos.ticket.renew.window.factor", "0.8", ConfigType::Double, false, "Changes nothing: GSSAPI (Kerberos) is not supported."),
    inert("sasl.kerberos.ticket.renew.jitter", "0.05", ConfigType::Double, false, "Changes nothing: GSSAPI (Kerberos) is not supported."),
    inert("sasl.kerberos.min.time.before.relogin", "60000", ConfigType::Long, false, "Changes nothing: GSSAPI (Kerberos) is not supported."),
    inert("sasl.kerberos.principal.to.local.rules", "DEFAULT", ConfigType::List, false, "Changes nothing: GSSAPI (Kerberos) is not supported."),
    inert("sasl.login.class", "", ConfigType::Class, false, "Changes nothing: no login module plug-ins."),
    inert("sasl.login.callback.handler.class", "", ConfigType::Class, false, "Changes nothing: no callback handler plug-ins."),
    inert("sasl.client.callback.handler.class", "", ConfigType::Class, false, "Changes nothing: no callback handler plug-ins."),
    inert("sasl.server.callback.handler.class", "", ConfigType::Class, false, "Changes nothing: no callback handler plug-ins."),
    inert("sasl.login.refresh.window.factor", "0.8", ConfigType::Double, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.refresh.window.jitter", "0.05", ConfigType::Double, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.refresh.min.period.seconds", "60", ConfigType::Short, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.refresh.buffer.seconds", "300", ConfigType::Short, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.connect.timeout.ms", "", ConfigType::Int, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.read.timeout.ms", "", ConfigType::Int, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.retry.backoff.ms", "100", ConfigType::Long, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.login.retry.backoff.max.ms", "10000", ConfigType::Long, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.scope.claim.name", "scope", ConfigType::String, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.sub.claim.name", "sub", ConfigType::String, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.token.endpoint.url", "", ConfigType::String, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.jwks.endpoint.url", "", ConfigType::String, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000", ConfigType::Long, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "100", ConfigType::Long, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "10000", ConfigType::Long, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.clock.skew.seconds", "30", ConfigType::Int, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.expected.audience", "", ConfigType::List, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("sasl.oauthbearer.expected.issuer", "", ConfigType::String, false, "Changes nothing: OAUTHBEARER is not supported."),
    inert("delegation.token.secret.key", "", ConfigType::Password, false, "Changes nothing: delegation tokens are not supported."),
    inert("delegation.token.max.lifetime.ms", "604800000", ConfigType::Long, false, "Changes nothing: delegation tokens are not supported."),
    inert("delegation.token.expiry.time.ms", "86400000", ConfigType::Long, false, "Changes nothing: delegation tokens are not supported."),
    inert("delegation.token.expiry.check.interval.ms", "3600000", ConfigType::Long, false, "Changes nothing: delegation tokens are not supported."),
    inert("password.encoder.secret", "", ConfigType::Password, false, "Changes nothing: dynamic password configs are not stored encoded."),
    inert("password.encoder.old.secret", "", ConfigType::Password, false, "Changes nothing: dynamic password configs are not stored encoded."),
    inert("password.encoder.keyfactory.algorithm", "", ConfigType::String, false, "Changes nothing."),
    inert("password.encoder.cipher.algorithm", "AES/CBC/PKCS5Padding", ConfigType::String, false, "Changes nothing."),
    inert("password.encoder.key.length", "128", ConfigType::Int, false, "Changes nothing."),
    inert("password.encoder.iterations", "4096", ConfigType::Int, false, "Changes nothing."),
];

/// Kafka keys that Eddy takes from a command-line flag or environment variable instead: set
/// in the properties file they are refused with this pointer rather than ignored.
pub const FLAG_KEYS: &[(&str, &str)] = &[
    ("node.id", "--node-id (EDDY_NODE_ID)"),
    ("broker.id", "--node-id (EDDY_NODE_ID)"),
    ("listeners", "--listeners (EDDY_LISTENERS)"),
    (
        "advertised.listeners",
        "--advertised-listeners (EDDY_ADVERTISED_LISTENERS)",
    ),
    ("log.dirs", "--data-dir (EDDY_DATA_DIR)"),
    ("log.dir", "--data-dir (EDDY_DATA_DIR)"),
    (
        "controller.quorum.voters",
        "--controller-quorum-voters (EDDY_CONTROLLER_QUORUM_VOTERS)",
    ),
    (
        "broker.session.timeout.ms",
        "--broker-session-timeout-ms (EDDY_BROKER_SESSION_TIMEOUT_MS)",
    ),
];

/// Kafka's range of a broker key's value, `(min, max)`.
pub fn broker_range(key: &str) -> (Option<f64>, Option<f64>) {
    match key {
        "num.network.threads"
        | "num.io.threads"
        | "background.threads"
        | "num.replica.fetchers"
        | "num.recovery.threads.per.data.dir"
        | "queued.max.requests"
        | "socket.request.max.bytes"
        | "socket.listen.backlog.size"
        | "log.roll.hours"
        | "log.retention.hours"
        | "log.retention.minutes"
        | "num.partitions"
        | "default.replication.factor"
        | "offsets.topic.num.partitions"
        | "offsets.topic.replication.factor"
        | "offsets.topic.segment.bytes"
        | "offsets.load.buffer.size"
        | "offsets.retention.minutes"
        | "offsets.retention.check.interval.ms"
        | "offsets.commit.timeout.ms"
        | "transaction.state.log.replication.factor"
        | "transaction.state.log.min.isr"
        | "transaction.state.log.num.partitions"
        | "transaction.state.log.segment.bytes"
        | "transaction.state.log.load.buffer.size"
        | "transaction.max.timeout.ms"
        | "transactional.id.expiration.ms"
        | "transaction.abort.timed.out.transaction.cleanup.interval.ms"
        | "transaction.remove.expired.transaction.cleanup.interval.ms"
        | "producer.id.expiration.ms"
        | "producer.id.expiration.check.interval.ms"
        | "metrics.num.samples"
        | "metrics.sample.window.ms"
        | "quota.window.num"
        | "quota.window.size.seconds"
        | "replication.quota.window.num"
        | "replication.quota.window.size.seconds"
        | "controller.quota.window.num"
        | "controller.quota.window.size.seconds"
        | "group.max.size"
        | "group.coordinator.threads"
        | "group.consumer.session.timeout.ms"
        | "group.consumer.heartbeat.interval.ms"
        | "group.consumer.min.session.timeout.ms"
        | "group.consumer.max.session.timeout.ms"
        | "group.consumer.min.heartbeat.interval.ms"
        | "group.consumer.max.heartbeat.interval.ms"
        | "group.consumer.max.size"
        | "share.coordinator.state.topic.replication.factor"
        | "share.coordinator.state.topic.min.isr"
        | "kafka.metrics.polling.interval.secs" => (Some(1.0), None),
        "log.roll.jitter.hours"
        | "log.cleaner.threads"
        | "log.cleaner.io.buffer.size"
        | "log.cleaner.backoff.ms"
        | "log.cleaner.dedupe.buffer.size"
        | "log.flush.offset.checkpoint.interval.ms"
        | "log.flush.start.offset.checkpoint.interval.ms"
        | "log.initial.task.delay.ms"
        | "replica.fetch.max.bytes"
        | "replica.fetch.response.max.bytes"
        | "replica.fetch.backoff.ms"
        | "max.incremental.fetch.session.cache.slots"
        | "group.initial.rebalance.delay.ms"
        | "max.connections"
        | "max.connections.per.ip"
        | "max.connection.creation.rate"
        | "connections.max.reauth.ms"
        | "connection.failed.authentication.delay.ms" => (Some(0.0), None),
        "fetch.max.bytes" => (Some(1024.0), None),
        "log.cleaner.io.buffer.load.factor" => (Some(0.0), None),
        _ => (None, None),
    }
}

/// Kafka's allowed values of a broker key (case-sensitive as Kafka's validators).
pub fn broker_allowed(key: &str) -> &'static [&'static str] {
    match key {
        "process.roles" => &["broker", "controller"],
        "metrics.recording.level" => &["INFO", "DEBUG", "TRACE"],
        "security.inter.broker.protocol" => &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        "group.consumer.migration.policy" => &["disabled", "downgrade", "upgrade", "bidirectional"],
        "group.coordinator.rebalance.protocols" => &["classic", "consumer", "streams", "share"],
        "remote.log.storage.system.enable" => &["false"],
        _ => &[],
    }
}
