//! Unit tests of the sampler's maths: rates and resets, p99 from bucket deltas, the cluster's
//! points from two readings at injected instants, and downsampling.

use super::*;

fn key(series: Series, topic: Option<&str>) -> CounterKey {
    CounterKey {
        series,
        topic: topic.map(str::to_string),
    }
}

const INF: f64 = f64::INFINITY;

fn reading(bytes_in: f64, topic_a: f64, produce: &[(f64, f64)]) -> BrokerReading {
    let mut r = BrokerReading::default();
    r.counters
        .insert(key(Series::ProduceThroughput, None), bytes_in);
    r.counters
        .insert(key(Series::ProduceThroughput, Some("a")), topic_a);
    r.latency.insert("Produce".into(), produce.to_vec());
    r.partitions = Some(4.0);
    r.under_replicated = Some(1.0);
    r.offline = Some(0.0);
    r.disk_used.insert("/d".into(), 100.0);
    r.lag_by_group.insert("g".into(), 7.0);
    r
}

fn find<'a>(points: &'a [Point], series: Series, l: &Labels) -> Option<&'a Point> {
    points.iter().find(|p| p.series == series && &p.labels == l)
}

#[test]
fn rates_are_deltas_over_elapsed_time_and_resets_give_none() {
    assert_eq!(rate(100.0, 400.0, 30), Some(10.0));
    assert_eq!(rate(100.0, 100.0, 30), Some(0.0));
    assert_eq!(rate(400.0, 100.0, 30), None, "counter reset");
    assert_eq!(rate(100.0, 400.0, 0), None, "no interval");
    assert_eq!(rate(100.0, 400.0, -5), None, "clock went back");
}

#[test]
fn quantiles_interpolate_like_prometheus() {
    // 100 observations: 50 ≤ 0.01, 40 in (0.01, 0.1], 10 in (0.1, 1].
    let b = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (INF, 100.0)];
    // rank 99 is the 9th of 10 in (0.1, 1]: 0.1 + 0.9 * 0.9.
    let p99 = histogram_quantile(0.99, &b).expect("p99");
    assert!((p99 - 0.91).abs() < 1e-12, "{p99}");
    // rank 50 ends the first bucket.
    assert_eq!(histogram_quantile(0.5, &b), Some(0.01));
    // Everything above the last finite bound: that bound.
    assert_eq!(
        histogram_quantile(0.99, &[(0.5, 0.0), (1.0, 1.0), (INF, 10.0)]),
        Some(1.0)
    );
    assert_eq!(histogram_quantile(0.99, &[(0.5, 0.0), (INF, 0.0)]), None);
    assert_eq!(histogram_quantile(0.99, &[]), None);
}

#[test]
fn bucket_deltas_detect_resets_and_layout_changes() {
    let before = [(0.1, 5.0), (INF, 6.0)];
    let after = [(0.1, 8.0), (INF, 10.0)];
    assert_eq!(
        bucket_delta(&before, &after),
        Some(vec![(0.1, 3.0), (INF, 4.0)])
    );
    assert_eq!(bucket_delta(&after, &before), None, "reset");
    assert_eq!(bucket_delta(&before, &[(0.2, 8.0), (INF, 10.0)]), None);
    assert_eq!(bucket_delta(&before, &[(INF, 10.0)]), None);
}

#[test]
fn a_first_reading_gives_gauges_but_no_rates() {
    let cur = Timed {
        at: 1000,
        reading: reading(500.0, 400.0, &[(0.01, 1.0), (INF, 1.0)]),
    };
    let points = cluster_points(&[BrokerRound {
        broker: "b0",
        previous: None,
        current: &cur,
    }]);
    assert!(
        points.iter().all(|p| !matches!(
            p.series,
            Series::ProduceThroughput | Series::RequestLatencyP99
        )),
        "{points:?}"
    );
    assert_eq!(
        find(&points, Series::Partitions, &labels([("broker", "b0")])).map(|p| p.value),
        Some(4.0)
    );
    assert_eq!(
        find(
            &points,
            Series::DiskUsed,
            &labels([("broker", "b0"), ("dir", "/d")])
        )
        .map(|p| p.value),
        Some(100.0)
    );
    assert_eq!(
        find(&points, Series::ConsumerLag, &labels([("group", "g")])).map(|p| p.value),
        Some(7.0)
    );
}

#[test]
fn two_brokers_sum_rates_and_latency_and_health() {
    let b0_prev = Timed {
        at: 1000,
        reading: reading(0.0, 0.0, &[(0.01, 0.0), (0.1, 0.0), (INF, 0.0)]),
    };
    let b0_cur = Timed {
        at: 1030,
        reading: reading(3000.0, 1500.0, &[(0.01, 90.0), (0.1, 99.0), (INF, 100.0)]),
    };
    let b1_prev = Timed {
        at: 1000,
        reading: reading(100.0, 0.0, &[(0.01, 0.0), (0.1, 0.0), (INF, 0.0)]),
    };
    let mut b1_cur = Timed {
        at: 1030,
        reading: reading(700.0, 0.0, &[(0.01, 100.0), (0.1, 100.0), (INF, 100.0)]),
    };
    // b1 leads 3 partitions below min ISR and is the controller; b0 reports neither gauge's
    // non-zero value (b0 says 0 controllers, no under-min-ISR gauge at all).
    b1_cur.reading.under_min_isr = Some(3.0);
    b1_cur.reading.active_controller = Some(1.0);
    let mut b0_cur = b0_cur;
    b0_cur.reading.active_controller = Some(0.0);
    let points = cluster_points(&[
        BrokerRound {
            broker: "b0",
            previous: Some(&b0_prev),
            current: &b0_cur,
        },
        BrokerRound {
            broker: "b1",
            previous: Some(&b1_prev),
            current: &b1_cur,
        },
    ]);
    let value = |s, l: Labels| find(&points, s, &l).map(|p| p.value);
    // (3000 + 600) / 30 s.
    assert_eq!(value(Series::ProduceThroughput, Labels::new()), Some(120.0));
    assert_eq!(
        value(Series::ProduceThroughput, labels([("topic", "a")])),
        Some(50.0)
    );
    // 200 requests: 190 ≤ 0.01, 9 in (0.01, 0.1], 1 above: rank 198 is the 8th of 9.
    let p99 = value(Series::RequestLatencyP99, labels([("api", "Produce")])).expect("p99");
    assert!((p99 - (0.01 + 0.09 * 8.0 / 9.0)).abs() < 1e-12, "{p99}");
    assert_eq!(
        value(Series::UnderReplicatedPartitions, Labels::new()),
        Some(2.0)
    );
    assert_eq!(value(Series::OfflinePartitions, Labels::new()), Some(0.0));
    assert_eq!(
        value(Series::UnderMinIsrPartitions, Labels::new()),
        Some(3.0)
    );
    assert_eq!(value(Series::ActiveControllers, Labels::new()), Some(1.0));
    assert_eq!(
        value(Series::ConsumerLag, labels([("group", "g")])),
        Some(14.0)
    );
    assert!(value(Series::Partitions, labels([("broker", "b1")])).is_some());
}

#[test]
fn a_restarted_broker_gives_no_rate_until_its_next_reading() {
    let prev = Timed {
        at: 1000,
        reading: reading(9000.0, 9000.0, &[(0.01, 50.0), (INF, 50.0)]),
    };
    let restarted = Timed {
        at: 1030,
        reading: reading(10.0, 10.0, &[(0.01, 1.0), (INF, 1.0)]),
    };
    let points = cluster_points(&[BrokerRound {
        broker: "b0",
        previous: Some(&prev),
        current: &restarted,
    }]);
    assert!(
        points.iter().all(|p| !matches!(
            p.series,
            Series::ProduceThroughput | Series::RequestLatencyP99
        )),
        "{points:?}"
    );
    let next = Timed {
        at: 1060,
        reading: reading(310.0, 10.0, &[(0.01, 3.0), (INF, 3.0)]),
    };
    let points = cluster_points(&[BrokerRound {
        broker: "b0",
        previous: Some(&restarted),
        current: &next,
    }]);
    assert_eq!(
        find(&points, Series::ProduceThroughput, &Labels::new()).map(|p| p.value),
        Some(10.0)
    );
    assert_eq!(
        find(
            &points,
            Series::ProduceThroughput,
            &labels([("topic", "a")])
        )
        .map(|p| p.value),
        Some(0.0)
    );
    assert_eq!(
        find(
            &points,
            Series::RequestLatencyP99,
            &labels([("api", "Produce")])
        )
        .map(|p| p.value),
        Some(0.0099)
    );
}

#[test]
fn downsampling_averages_aligned_windows_per_label_set() {
    let p = |labels: &str, ts, value| StoredPoint {
        cluster_id: "c".into(),
        series: "s".into(),
        labels: labels.into(),
        ts,
        value,
    };
    let out = downsample(
        &[
            p("{}", 600, 1.0),
            p("{}", 630, 3.0),
            p("{}", 899, 5.0),
            p("{}", 900, 10.0),
            p(r#"{"topic":"a"}"#, 610, 7.0),
        ],
        300,
    );
    assert_eq!(
        out,
        // By labels (as text: `"` sorts before `}`), then window.
        vec![
            p(r#"{"topic":"a"}"#, 600, 7.0),
            p("{}", 600, 3.0),
            p("{}", 900, 10.0),
        ]
    );
    assert!(downsample(&[], 300).is_empty());
}

#[test]
fn a_topic_or_api_new_since_the_last_reading_counts_from_zero() {
    let mut before = BrokerReading::default();
    before
        .counters
        .insert(key(Series::ProduceThroughput, None), 1000.0);
    let prev = Timed {
        at: 1000,
        reading: before,
    };
    let cur = Timed {
        at: 1010,
        reading: reading(1600.0, 500.0, &[(0.01, 4.0), (INF, 4.0)]),
    };
    let points = cluster_points(&[BrokerRound {
        broker: "b0",
        previous: Some(&prev),
        current: &cur,
    }]);
    let value = |s, l: Labels| find(&points, s, &l).map(|p| p.value);
    assert_eq!(value(Series::ProduceThroughput, Labels::new()), Some(60.0));
    assert_eq!(
        value(Series::ProduceThroughput, labels([("topic", "a")])),
        Some(50.0)
    );
    assert!(value(Series::RequestLatencyP99, labels([("api", "Produce")])).is_some());
    // The same reading after a restart (the total went backwards): no rate at all.
    let mut big = BrokerReading::default();
    big.counters
        .insert(key(Series::ProduceThroughput, None), 5000.0);
    let prev = Timed {
        at: 1000,
        reading: big,
    };
    let points = cluster_points(&[BrokerRound {
        broker: "b0",
        previous: Some(&prev),
        current: &cur,
    }]);
    assert!(
        points.iter().all(|p| !matches!(
            p.series,
            Series::ProduceThroughput | Series::RequestLatencyP99
        )),
        "{points:?}"
    );
}
