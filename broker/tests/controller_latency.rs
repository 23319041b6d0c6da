#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! A benchmark, not a check (ignored by default): the latency of CreateTopics in a three-broker
//! cluster, which is one metadata write through the controller transport plus the wait until the
//! answering broker's image has applied it. Run with
//! `cargo nextest run -p eddy-broker --test controller_latency --run-ignored only --no-capture`.

mod cluster_support;
mod common;
mod wire;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};
use wire::Wire;

/// CreateTopics samples per run.
const SAMPLES: usize = 21;

#[test]
#[ignore = "benchmark: prints the CreateTopics latency of a three-broker cluster"]
fn create_topics_latency_in_a_three_broker_cluster() {
    let brokers = cluster_support::start_brokers(3, &[], "4000");
    // Ask brokers in turn: the controller's own answers and forwarded ones both count.
    let mut took: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let b = &brokers[i % brokers.len()];
            let mut w = Wire::connect(&b.bootstrap());
            let req = CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(format!("latency-{i}"))))
                        .with_num_partitions(1)
                        .with_replication_factor(3),
                ]);
            let t = Instant::now();
            let resp = w.call(&req, 7);
            let elapsed = t.elapsed();
            assert_eq!(resp.topics[0].error_code, 0);
            elapsed
        })
        .collect();
    took.sort();
    eprintln!(
        "MEASURED CreateTopics in a 3-broker cluster over {SAMPLES}: median {} ms, min {} ms, max {} ms",
        took[SAMPLES / 2].as_millis(),
        took[0].as_millis(),
        took[SAMPLES - 1].as_millis()
    );
}
