//! Drives a workload against a broker through librdkafka (the `rdkafka` crate): topics are
//! auto-created with the workload's partition count, consumers are assigned partitions from the
//! beginning, producers send open-loop on their schedule with the intended send time in the
//! payload, and every acknowledgement and consumed message is recorded into HDR histograms.

use crate::report::Totals;
use crate::schedule::Schedule;
use crate::stats::Recorder;
use crate::workload::Workload;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Errors of driving the load.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("creating a kafka client: {0}")]
    Client(KafkaError),
    #[error("waiting for topic {topic} with {expected} partitions: {detail}")]
    Topic {
        topic: String,
        expected: u32,
        detail: String,
    },
    #[error("assigning partitions to a consumer: {0}")]
    Assign(KafkaError),
    #[error("a {0} thread panicked")]
    Panicked(&'static str),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, DriveError>;

/// What the load produced: recorders of publish acknowledgements and of consumed messages.
pub struct DriveOutcome {
    pub publish: Recorder,
    pub end_to_end: Recorder,
    pub totals: Totals,
    /// When the producers started: second 0 of the per-second series.
    pub t0: Instant,
}

/// How long consumers keep reading after producers finished, waiting for the tail.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

fn ns_since(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The intended send time (ns since t0) carried in the first 8 bytes of a payload.
pub fn intended_ns(payload: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(payload.get(..8)?.try_into().ok()?))
}

/// Shared counters and the publish recorder of one producer, filled by librdkafka's delivery
/// callback on the producer's polling thread.
struct ProducerStats {
    t0: Instant,
    recorder: Mutex<Recorder>,
    acked: Arc<AtomicU64>,
    failed: AtomicU64,
}

struct BenchProducerContext {
    stats: Arc<ProducerStats>,
}

impl ClientContext for BenchProducerContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "producer client error");
    }
}

impl ProducerContext for BenchProducerContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(msg) => {
                let now = ns_since(self.stats.t0);
                let payload = msg.payload().unwrap_or_default();
                let latency = now.saturating_sub(intended_ns(payload).unwrap_or(now));
                if let Ok(mut r) = self.stats.recorder.lock() {
                    r.record(now / 1000, payload.len() as u64, latency / 1000);
                }
                self.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                if self.stats.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                    tracing::warn!(%error, "message not delivered");
                }
            }
        }
    }
}

/// Where the clients connect and how: the bootstrap address and extra librdkafka properties
/// (`security.protocol`, `ssl.ca.location`, `sasl.*`, ... for a secured listener).
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub bootstrap: String,
    pub properties: Vec<(String, String)>,
    /// Create the run's topics through the admin API (CreateTopics) with this replication
    /// factor and these topic configs, instead of relying on auto-creation.
    pub topic_spec: Option<TopicSpec>,
}

/// How the run's topics are created through the admin API.
#[derive(Debug, Clone, Default)]
pub struct TopicSpec {
    pub replication_factor: i32,
    pub configs: Vec<(String, String)>,
}

/// Creates `topic` with CreateTopics (rdkafka's admin client), waiting for the answer.
fn create_topic(target: &Target, topic: &str, partitions: u32, spec: &TopicSpec) -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> =
        target.config().create().map_err(DriveError::Client)?;
    let mut new = NewTopic::new(
        topic,
        i32::try_from(partitions).unwrap_or(i32::MAX),
        TopicReplication::Fixed(spec.replication_factor),
    );
    for (k, v) in &spec.configs {
        new = new.set(k, v);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&new], &options))
        .map_err(DriveError::Client)?;
    for r in results {
        if let Err((name, code)) = r {
            return Err(DriveError::Topic {
                topic: name,
                expected: partitions,
                detail: format!("CreateTopics failed: {code:?}"),
            });
        }
    }
    Ok(())
}

impl Target {
    /// A client config with the bootstrap address and the extra properties set.
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

fn producer_config(w: &Workload, target: &Target) -> ClientConfig {
    let mut c = target.config();
    c.set(
        "acks",
        if w.acks == "all" {
            "-1"
        } else {
            w.acks.as_str()
        },
    )
    .set("compression.type", w.compression.as_str())
    .set("batch.size", w.batch_size.to_string())
    .set("linger.ms", w.linger_ms.to_string())
    .set("enable.idempotence", "false")
    .set("message.timeout.ms", "60000")
    .set("queue.buffering.max.messages", "1000000")
    .set("socket.nagle.disable", "true");
    c
}

/// Triggers auto-creation of `topic` and waits until its metadata shows `partitions` partitions.
fn ensure_topic(target: &Target, topic: &str, partitions: u32) -> Result<()> {
    let client: BaseProducer = target
        .config()
        .set("allow.auto.create.topics", "true")
        .create()
        .map_err(DriveError::Client)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut detail = String::from("no metadata answer");
    while Instant::now() < deadline {
        match client
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
        {
            Ok(md) => {
                if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                    let n = t.partitions().len();
                    if t.error().is_none() && n == partitions as usize {
                        return Ok(());
                    }
                    detail = format!("metadata shows {n} partitions (error {:?})", t.error());
                    if n > 0 && n != partitions as usize {
                        return Err(DriveError::Topic {
                            topic: topic.into(),
                            expected: partitions,
                            detail: format!("{detail}; create it beforehand or set num.partitions"),
                        });
                    }
                }
            }
            Err(e) => detail = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(DriveError::Topic {
        topic: topic.into(),
        expected: partitions,
        detail,
    })
}

/// Runs the workload on topics named `bench-<name>-<run_id>-<n>` and returns what it measured.
pub fn drive(w: &Workload, target: &Target, run_id: &str) -> Result<DriveOutcome> {
    let topics: Vec<String> = (0..w.topics)
        .map(|i| format!("bench-{}-{run_id}-{i}", w.name))
        .collect();
    for t in &topics {
        if let Some(spec) = &target.topic_spec {
            create_topic(target, t, w.partitions_per_topic, spec)?;
        }
        ensure_topic(target, t, w.partitions_per_topic)?;
    }
    let end_s = w.warmup_s + w.duration_s;
    let acked = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let producers_done = Arc::new(AtomicBool::new(false));
    let drain_until_ns = Arc::new(AtomicU64::new(u64::MAX));

    // Consumers first, positioned at the beginning, so nothing produced is missed.
    let mut consumers = Vec::new();
    for t in &topics {
        for idx in 0..w.consumers_per_topic {
            let consumer: BaseConsumer = target
                .config()
                // librdkafka refuses assign() without a group id; nothing is committed.
                .set("group.id", format!("eddy-bench-{run_id}"))
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("enable.partition.eof", "false")
                .set("fetch.wait.max.ms", "100")
                .set("socket.nagle.disable", "true")
                .create()
                .map_err(DriveError::Client)?;
            let mut tpl = TopicPartitionList::new();
            for p in w.consumer_partitions(idx) {
                tpl.add_partition_offset(t, p, Offset::Beginning)
                    .map_err(DriveError::Assign)?;
            }
            consumer.assign(&tpl).map_err(DriveError::Assign)?;
            consumers.push(consumer);
        }
    }
    let t0 = Instant::now();
    let warmup_s = w.warmup_s;
    let consumer_threads: Vec<_> = consumers
        .into_iter()
        .map(|consumer| {
            let (acked, consumed, done, drain) = (
                acked.clone(),
                consumed.clone(),
                producers_done.clone(),
                drain_until_ns.clone(),
            );
            std::thread::spawn(move || {
                let mut rec = Recorder::new(warmup_s, end_s);
                let mut errors = 0u32;
                loop {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => {
                            let now = ns_since(t0);
                            let payload = m.payload().unwrap_or_default();
                            let latency = now.saturating_sub(intended_ns(payload).unwrap_or(now));
                            rec.record(now / 1000, payload.len() as u64, latency / 1000);
                            consumed.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Err(e)) => {
                            errors += 1;
                            if errors <= 10 {
                                tracing::warn!(error = %e, "consumer error");
                            }
                        }
                        None => {}
                    }
                    if done.load(Ordering::Acquire)
                        && (consumed.load(Ordering::Relaxed) >= acked.load(Ordering::Relaxed)
                            || ns_since(t0) > drain.load(Ordering::Relaxed))
                    {
                        return rec;
                    }
                }
            })
        })
        .collect();

    // Producers: one thread each, sending on schedule until the end of the measured period.
    let schedule = Schedule::per_second(w.rate_per_producer());
    let end = Duration::from_secs(end_s);
    let mut producer_threads = Vec::new();
    for (ti, topic) in topics.iter().enumerate() {
        for pi in 0..w.producers_per_topic {
            let stats = Arc::new(ProducerStats {
                t0,
                recorder: Mutex::new(Recorder::new(w.warmup_s, end_s)),
                acked: acked.clone(),
                failed: AtomicU64::new(0),
            });
            let producer: ThreadedProducer<BenchProducerContext> = producer_config(w, target)
                .create_with_context(BenchProducerContext {
                    stats: stats.clone(),
                })
                .map_err(DriveError::Client)?;
            // Connect before this producer's schedule starts, so connection set-up is neither
            // charged to its first messages nor replayed as a burst into the measured period.
            producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(DriveError::Client)?;
            let (topic, w) = (topic.clone(), w.clone());
            let producer_index = (ti as u64) << 32 | u64::from(pi);
            producer_threads.push(std::thread::spawn(move || {
                let sent = produce_loop(&producer, &topic, &w, schedule, t0, end, producer_index);
                if let Err(e) = producer.flush(Duration::from_secs(60)) {
                    tracing::warn!(error = %e, "flushing producer");
                }
                drop(producer);
                (sent, stats)
            }));
        }
    }
    let mut publish = Recorder::new(w.warmup_s, end_s);
    let mut totals = Totals::default();
    for h in producer_threads {
        let (sent, stats) = h.join().map_err(|_| DriveError::Panicked("producer"))?;
        totals.sent += sent;
        totals.failed += stats.failed.load(Ordering::Relaxed);
        if let Ok(r) = stats.recorder.lock() {
            publish.merge(&r);
        }
    }
    totals.acked = acked.load(Ordering::Relaxed);
    drain_until_ns.store(
        ns_since(t0) + DRAIN_LIMIT.as_nanos() as u64,
        Ordering::Relaxed,
    );
    producers_done.store(true, Ordering::Release);
    let mut end_to_end = Recorder::new(w.warmup_s, end_s);
    for h in consumer_threads {
        let r = h.join().map_err(|_| DriveError::Panicked("consumer"))?;
        end_to_end.merge(&r);
    }
    totals.consumed = consumed.load(Ordering::Relaxed);
    Ok(DriveOutcome {
        publish,
        end_to_end,
        totals,
        t0,
    })
}

/// Sends messages on `schedule` until `end` (since `t0`); returns how many were handed to
/// librdkafka.
fn produce_loop(
    producer: &ThreadedProducer<BenchProducerContext>,
    topic: &str,
    w: &Workload,
    schedule: Schedule,
    t0: Instant,
    end: Duration,
    producer_index: u64,
) -> u64 {
    let start = t0.elapsed();
    // Incompressible-ish filler so compression workloads are not flattered.
    let mut payload: Vec<u8> = (0..w.message_size)
        .map(|i| {
            (i as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(17) as u8
        })
        .collect();
    let mut key = String::new();
    let mut index = 0u64;
    loop {
        let elapsed = t0.elapsed();
        if elapsed >= end {
            return index;
        }
        let since_start = elapsed.saturating_sub(start);
        if index >= schedule.due_by(since_start) {
            let next = schedule.intended(index).unwrap_or_default();
            let wait = next
                .saturating_sub(since_start)
                .min(Duration::from_millis(5));
            std::thread::sleep(wait);
            continue;
        }
        let intended = match schedule.intended(index) {
            Some(d) => u64::try_from((start + d).as_nanos()).unwrap_or(u64::MAX),
            None => ns_since(t0),
        };
        payload[..8].copy_from_slice(&intended.to_le_bytes());
        payload[8..16].copy_from_slice(&(producer_index ^ index.rotate_left(40)).to_le_bytes());
        if w.keyed {
            key.clear();
            let k = (index.wrapping_mul(7919) + producer_index) % u64::from(w.key_space);
            key.push_str(&format!("key-{k}"));
        }
        // Retry on a full local queue: the intended time stays, so the wait counts as latency.
        loop {
            let mut record = BaseRecord::to(topic).payload(&payload[..]);
            if w.keyed {
                record = record.key(key.as_str());
            }
            match producer.send::<str, [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if t0.elapsed() >= end + Duration::from_secs(5) {
                        return index;
                    }
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, "send refused");
                    return index;
                }
            }
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_time_is_read_from_the_payload_header() {
        let mut p = vec![0u8; 32];
        p[..8].copy_from_slice(&123_456_789u64.to_le_bytes());
        assert_eq!(intended_ns(&p), Some(123_456_789));
        assert_eq!(intended_ns(&[1, 2, 3]), None);
    }
}
