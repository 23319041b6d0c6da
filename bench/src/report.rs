//! The result of a run as written to `result.json`, its Markdown table, and the side-by-side
//! comparison of two results. Pure: turns data into text.

use crate::stats::{LatencySummary, Throughput};
use crate::workload::Workload;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub workload: Workload,
    /// UTC start time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started_at: String,
    /// The broker driven: its bootstrap address and whether the bench started it.
    pub bootstrap: String,
    pub broker_started_by_bench: bool,
    /// Seconds actually measured (after warm-up).
    pub measured_s: f64,
    pub publish: Throughput,
    pub consume: Throughput,
    pub publish_latency: LatencySummary,
    pub end_to_end_latency: LatencySummary,
    pub totals: Totals,
    pub broker: Option<BrokerUsage>,
    /// Who used the CPU during the measured period (the machine may be shared).
    #[serde(default)]
    pub cpu: CpuShare,
    pub machine: MachineLimits,
    pub fractions: Fractions,
    pub series: Vec<SecondSample>,
}

/// Message counts over the whole run (warm-up and drain included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub consumed: u64,
}

/// The broker process's resource use, sampled from /proc once per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokerUsage {
    pub idle_rss_mb: f64,
    pub max_rss_mb: f64,
    pub avg_cpu_cores: f64,
    pub max_cpu_cores: f64,
}

/// Average CPU cores used during the measured period by the bench itself (its clients), by the
/// whole machine, and by everything but the broker and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuShare {
    pub bench_client_cores: f64,
    pub machine_busy_cores: f64,
    pub other_processes_cores: f64,
}

impl CpuShare {
    /// Averages the samples taken in `(from_s, to_s + 1]`.
    pub fn from_samples(samples: &[crate::procstat::ProcSample], from_s: f64, to_s: f64) -> Self {
        let measured: Vec<_> = samples
            .iter()
            .filter(|s| s.t_s > from_s && s.t_s <= to_s + 1.0)
            .collect();
        if measured.is_empty() {
            return Self::default();
        }
        let n = measured.len() as f64;
        let avg = |f: fn(&crate::procstat::ProcSample) -> f64| {
            measured.iter().map(|s| f(s)).sum::<f64>() / n
        };
        let (client, machine, broker) = (
            avg(|s| s.client_cpu_cores),
            avg(|s| s.machine_busy_cores),
            avg(|s| s.cpu_cores),
        );
        CpuShare {
            bench_client_cores: client,
            machine_busy_cores: machine,
            other_processes_cores: (machine - client - broker).max(0.0),
        }
    }
}

/// The machine's own limits, measured in the same run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineLimits {
    pub cpus: u32,
    /// Sequential writes of 1 MiB, each followed by fdatasync, to the data directory's disk.
    pub disk_fsync_write_mb_s: f64,
    /// One TCP stream over 127.0.0.1.
    pub loopback_tcp_mb_s: f64,
    /// Sequential writes of 1 MiB into the page cache of a new file on the data directory's
    /// filesystem, no fsync (what every replica of a produced byte costs; a replicated-mode
    /// cluster of N local brokers writes each byte N times). Absent in older results.
    #[serde(default)]
    pub page_cache_write_mb_s: f64,
}

/// Broker figures as fractions of the machine's limits (0.5 = half).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Fractions {
    pub publish_of_disk: f64,
    pub publish_of_loopback: f64,
    pub consume_of_loopback: f64,
    pub broker_cpu_of_machine: f64,
}

impl Fractions {
    /// Divides, treating an unmeasured (zero) limit as "no fraction".
    pub fn compute(
        publish_mb_s: f64,
        consume_mb_s: f64,
        cpu_cores: f64,
        m: &MachineLimits,
    ) -> Self {
        let frac = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Fractions {
            publish_of_disk: frac(publish_mb_s, m.disk_fsync_write_mb_s),
            publish_of_loopback: frac(publish_mb_s, m.loopback_tcp_mb_s),
            consume_of_loopback: frac(consume_mb_s, m.loopback_tcp_mb_s),
            broker_cpu_of_machine: frac(cpu_cores, f64::from(m.cpus)),
        }
    }
}

/// One second of the run, for the plot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondSample {
    pub t_s: u64,
    pub publish_mb_s: f64,
    pub consume_mb_s: f64,
    pub publish_p50_ms: f64,
    pub publish_p99_ms: f64,
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    pub broker_cpu_cores: f64,
    pub broker_rss_mb: f64,
}

/// The rows shared by the Markdown table and the comparison: (label, value).
fn rows(r: &RunResult) -> Vec<(&'static str, f64)> {
    let mut v = vec![
        ("publish msgs/s", r.publish.msgs_per_s),
        ("publish MB/s", r.publish.mb_per_s),
        ("consume msgs/s", r.consume.msgs_per_s),
        ("consume MB/s", r.consume.mb_per_s),
        ("publish latency p50 ms", r.publish_latency.p50_ms),
        ("publish latency p99 ms", r.publish_latency.p99_ms),
        ("publish latency p99.9 ms", r.publish_latency.p999_ms),
        ("publish latency max ms", r.publish_latency.max_ms),
        ("end-to-end latency p50 ms", r.end_to_end_latency.p50_ms),
        ("end-to-end latency p99 ms", r.end_to_end_latency.p99_ms),
        ("end-to-end latency p99.9 ms", r.end_to_end_latency.p999_ms),
        ("end-to-end latency max ms", r.end_to_end_latency.max_ms),
    ];
    if let Some(b) = r.broker {
        v.extend([
            ("broker CPU cores (avg)", b.avg_cpu_cores),
            ("broker CPU cores (max)", b.max_cpu_cores),
            ("broker RSS MB (idle)", b.idle_rss_mb),
            ("broker RSS MB (max)", b.max_rss_mb),
        ]);
    }
    v.extend([
        ("bench client CPU cores (avg)", r.cpu.bench_client_cores),
        (
            "machine busy CPU cores (avg, all processes)",
            r.cpu.machine_busy_cores,
        ),
        (
            "other processes' CPU cores (avg)",
            r.cpu.other_processes_cores,
        ),
        (
            "machine: disk fsync write MB/s",
            r.machine.disk_fsync_write_mb_s,
        ),
        ("machine: loopback TCP MB/s", r.machine.loopback_tcp_mb_s),
        (
            "machine: page-cache write MB/s",
            r.machine.page_cache_write_mb_s,
        ),
        ("publish / disk limit", r.fractions.publish_of_disk),
        ("publish / loopback limit", r.fractions.publish_of_loopback),
        ("consume / loopback limit", r.fractions.consume_of_loopback),
        (
            "broker CPU / machine CPUs",
            r.fractions.broker_cpu_of_machine,
        ),
    ]);
    v
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The Markdown report of one run.
pub fn markdown(r: &RunResult) -> String {
    let w = &r.workload;
    let mut s = String::new();
    let _ = writeln!(s, "# {} ({})\n", w.name, r.started_at);
    let rate = if w.rate == 0 {
        "max".to_string()
    } else {
        format!("{} msg/s", w.rate)
    };
    let _ = writeln!(
        s,
        "{} topic(s) × {} partitions, {} B messages{}, {} producer(s) and {} consumer(s) per topic, \
         target {rate}, acks={}, compression={}, batch {} B, linger {} ms; warm-up {} s, measured {:.1} s; \
         broker {} ({}).\n",
        w.topics,
        w.partitions_per_topic,
        w.message_size,
        if w.keyed { " keyed" } else { "" },
        w.producers_per_topic,
        w.consumers_per_topic,
        w.acks,
        w.compression,
        w.batch_size,
        w.linger_ms,
        w.warmup_s,
        r.measured_s,
        r.bootstrap,
        if r.broker_started_by_bench {
            "started by the bench"
        } else {
            "external"
        },
    );
    let _ = writeln!(s, "| metric | value |\n|---|---:|");
    for (label, v) in rows(r) {
        let _ = writeln!(s, "| {label} | {} |", fmt_value(v));
    }
    let t = r.totals;
    let _ = writeln!(
        s,
        "\nMessages over the whole run: sent {}, acknowledged {}, failed {}, consumed {}.",
        t.sent, t.acked, t.failed, t.consumed
    );
    s
}

/// A side-by-side table of two results with the relative change from `a` to `b`.
pub fn compare(a: &RunResult, b: &RunResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| metric | a: {} {} | b: {} {} | change |\n|---|---:|---:|---:|",
        a.workload.name, a.started_at, b.workload.name, b.started_at
    );
    let rb = rows(b);
    for (label, va) in rows(a) {
        let Some((_, vb)) = rb.iter().find(|(l, _)| *l == label) else {
            let _ = writeln!(s, "| {label} | {} | – | – |", fmt_value(va));
            continue;
        };
        let change = if va.abs() > f64::EPSILON {
            format!("{:+.1}%", (vb - va) / va * 100.0)
        } else {
            "–".to_string()
        };
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {change} |",
            fmt_value(va),
            fmt_value(*vb)
        );
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A result with round numbers, for tests of the renderers.
    pub(crate) fn sample_result() -> RunResult {
        let workload = Workload::from_yaml(
            "name: sample\npartitions_per_topic: 16\nmessage_size: 1024\nrate: 1000\nduration_s: 10\n",
        )
        .unwrap();
        let machine = MachineLimits {
            cpus: 2,
            disk_fsync_write_mb_s: 200.0,
            loopback_tcp_mb_s: 2000.0,
            page_cache_write_mb_s: 1500.0,
        };
        RunResult {
            workload,
            started_at: "2026-11-22T02:00:00Z".into(),
            bootstrap: "127.0.0.1:9092".into(),
            broker_started_by_bench: true,
            measured_s: 10.0,
            publish: Throughput {
                messages: 10_000,
                msgs_per_s: 1000.0,
                mb_per_s: 1.024,
            },
            consume: Throughput {
                messages: 10_000,
                msgs_per_s: 1000.0,
                mb_per_s: 1.024,
            },
            publish_latency: LatencySummary {
                count: 10_000,
                mean_ms: 2.0,
                p50_ms: 2.0,
                p99_ms: 4.0,
                p999_ms: 8.0,
                max_ms: 16.0,
            },
            end_to_end_latency: LatencySummary {
                count: 10_000,
                mean_ms: 3.0,
                p50_ms: 3.0,
                p99_ms: 6.0,
                p999_ms: 9.0,
                max_ms: 20.0,
            },
            totals: Totals {
                sent: 10_000,
                acked: 10_000,
                failed: 0,
                consumed: 10_000,
            },
            broker: Some(BrokerUsage {
                idle_rss_mb: 10.0,
                max_rss_mb: 40.0,
                avg_cpu_cores: 0.5,
                max_cpu_cores: 0.8,
            }),
            cpu: CpuShare {
                bench_client_cores: 0.25,
                machine_busy_cores: 1.5,
                other_processes_cores: 0.75,
            },
            machine,
            fractions: Fractions::compute(1.024, 1.024, 0.5, &machine),
            series: (0..10)
                .map(|t| SecondSample {
                    t_s: t,
                    publish_mb_s: 1.0,
                    consume_mb_s: 1.0,
                    publish_p50_ms: 2.0,
                    publish_p99_ms: 4.0,
                    e2e_p50_ms: 3.0,
                    e2e_p99_ms: 6.0,
                    broker_cpu_cores: 0.5,
                    broker_rss_mb: 30.0,
                })
                .collect(),
        }
    }

    #[test]
    fn markdown_has_a_row_per_metric() {
        let md = markdown(&sample_result());
        assert!(md.starts_with("# sample (2026-11-22T02:00:00Z)"));
        assert!(md.contains("| publish msgs/s | 1000 |"), "{md}");
        assert!(md.contains("| publish latency p99 ms | 4.00 |"), "{md}");
        assert!(md.contains("| broker RSS MB (idle) | 10.00 |"), "{md}");
        assert!(md.contains("| broker CPU / machine CPUs | 0.250 |"), "{md}");
        assert!(
            md.contains("| other processes' CPU cores (avg) | 0.750 |"),
            "{md}"
        );
        assert!(md.contains("consumed 10000"));
    }

    #[test]
    fn compare_shows_both_values_and_the_change() {
        let a = sample_result();
        let mut b = sample_result();
        b.publish.msgs_per_s = 1500.0;
        b.publish_latency.p99_ms = 2.0;
        b.broker = None;
        let table = compare(&a, &b);
        assert!(
            table.contains("| publish msgs/s | 1000 | 1500 | +50.0% |"),
            "{table}"
        );
        assert!(
            table.contains("| publish latency p99 ms | 4.00 | 2.00 | -50.0% |"),
            "{table}"
        );
        assert!(
            table.contains("| broker RSS MB (idle) | 10.00 | – | – |"),
            "{table}"
        );
    }

    #[test]
    fn result_json_round_trips() {
        let r = sample_result();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: RunResult = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn fractions_ignore_unmeasured_limits() {
        let f = Fractions::compute(100.0, 200.0, 1.0, &MachineLimits::default());
        assert_eq!(f, Fractions::default());
    }
}

/// Per-second rows for the plot from the publish and end-to-end recorders and the broker's
/// samples (attributed to the second they were taken in).
pub fn series(
    publish: &crate::stats::Recorder,
    end_to_end: &crate::stats::Recorder,
    broker: &[crate::procstat::ProcSample],
) -> Vec<SecondSample> {
    let seconds = publish.windows.len().max(end_to_end.windows.len());
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    (0..seconds)
        .map(|i| {
            let mut row = SecondSample {
                t_s: i as u64,
                ..SecondSample::default()
            };
            if let Some(w) = publish.windows.get(i) {
                row.publish_mb_s = w.bytes as f64 / 1e6;
                row.publish_p50_ms = ms(&w.latency, 0.5);
                row.publish_p99_ms = ms(&w.latency, 0.99);
            }
            if let Some(w) = end_to_end.windows.get(i) {
                row.consume_mb_s = w.bytes as f64 / 1e6;
                row.e2e_p50_ms = ms(&w.latency, 0.5);
                row.e2e_p99_ms = ms(&w.latency, 0.99);
            }
            if let Some(s) = broker
                .iter()
                .rev()
                .find(|s| s.t_s.floor() as usize <= i + 1 && s.t_s >= i as f64)
            {
                row.broker_cpu_cores = s.cpu_cores;
                row.broker_rss_mb = s.rss_mb;
            }
            row
        })
        .collect()
}

/// The broker's usage from its samples: CPU averaged over the measured period `[from_s, to_s)`.
pub fn broker_usage(
    idle_rss_mb: f64,
    samples: &[crate::procstat::ProcSample],
    from_s: f64,
    to_s: f64,
) -> BrokerUsage {
    let measured: Vec<_> = samples
        .iter()
        .filter(|s| s.t_s > from_s && s.t_s <= to_s + 1.0)
        .collect();
    let avg = if measured.is_empty() {
        0.0
    } else {
        measured.iter().map(|s| s.cpu_cores).sum::<f64>() / measured.len() as f64
    };
    BrokerUsage {
        idle_rss_mb,
        max_rss_mb: samples.iter().map(|s| s.rss_mb).fold(idle_rss_mb, f64::max),
        avg_cpu_cores: avg,
        max_cpu_cores: samples.iter().map(|s| s.cpu_cores).fold(0.0, f64::max),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time in seconds (UTC, proleptic Gregorian).
pub fn utc_timestamp(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use crate::procstat::ProcSample;
    use crate::stats::Recorder;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_795_314_896), "2026-11-22T02:34:56Z");
    }

    #[test]
    fn series_has_a_row_per_second_with_rates_and_percentiles() {
        let mut p = Recorder::new(0, 10);
        let mut e = Recorder::new(0, 10);
        for i in 0..100u64 {
            p.record(i * 10_000, 1000, 2000); // second 0: 100 × 1000 B at 2 ms
            e.record(1_000_000 + i * 10_000, 1000, 5000); // second 1
        }
        let samples = [ProcSample {
            t_s: 1.0,
            cpu_cores: 0.5,
            rss_mb: 12.0,
            client_cpu_cores: 0.25,
            machine_busy_cores: 2.0,
        }];
        let rows = series(&p, &e, &samples);
        assert_eq!(rows.len(), 2);
        assert!((rows[0].publish_mb_s - 0.1).abs() < 1e-9);
        assert!((rows[0].publish_p99_ms - 2.0).abs() < 0.05);
        assert!((rows[1].consume_mb_s - 0.1).abs() < 1e-9);
        assert!((rows[1].e2e_p50_ms - 5.0).abs() < 0.1);
        assert!((rows[1].broker_rss_mb - 12.0).abs() < 1e-9);
        let u = broker_usage(10.0, &samples, 0.0, 2.0);
        let cpu = CpuShare::from_samples(&samples, 0.0, 2.0);
        assert!((cpu.other_processes_cores - 1.25).abs() < 1e-9, "{cpu:?}");
        assert!((u.avg_cpu_cores - 0.5).abs() < 1e-9);
        assert!((u.max_rss_mb - 12.0).abs() < 1e-9);
    }
}
