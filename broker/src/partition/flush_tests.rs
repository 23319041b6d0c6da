//! When the replicated mode's background fsync is due (`flush.messages`, `flush.ms` and the
//! flush scheduler's interval, Kafka's keys).

#![allow(clippy::unwrap_used)]

use super::*;
use std::time::Duration;

fn partition(dir: &std::path::Path, flush: FlushPolicy) -> Partition {
    let version = Arc::new(watch::channel(0).0);
    let settings = PartitionSettings {
        flush,
        ..PartitionSettings::default()
    };
    Partition::open("t", 0, dir, settings, 0, version).unwrap()
}

fn policy(messages: i64, ms: i64, scheduler_ms: i64) -> FlushPolicy {
    FlushPolicy {
        messages,
        ms,
        scheduler_ms,
    }
}

fn due(p: &Partition, records: i64) -> &'static str {
    match p.flush_due(records) {
        FlushDue::Now => "now",
        FlushDue::After(d) if d == Duration::from_secs(1) => "after 1 s",
        FlushDue::After(d) if d == Duration::from_secs(5) => "after 5 s",
        FlushDue::After(_) => "after another delay",
        FlushDue::Pending => "pending",
    }
}

#[test]
fn by_default_the_scheduler_interval_bounds_the_background_fsync_to_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), FlushPolicy::default());
    // The first append starts the one timer; later appends ride on it until it fires.
    assert_eq!(due(&p, 10), "after 1 s");
    assert_eq!(due(&p, 10), "pending");
    assert_eq!(due(&p, 10), "pending");
    p.flush_timer_fired();
    assert_eq!(due(&p, 1), "after 1 s");
}

#[test]
fn flush_ms_longer_than_the_scheduler_interval_wins_and_flush_messages_forces_it_now() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), policy(100, 5000, 1000));
    assert_eq!(due(&p, 60), "after 5 s");
    assert_eq!(due(&p, 39), "pending");
    // The 100th unflushed record: fsync now, and the count starts again.
    assert_eq!(due(&p, 1), "now");
    assert_eq!(due(&p, 99), "pending");
    assert_eq!(due(&p, 1), "now");
}

#[test]
fn a_zero_scheduler_interval_and_flush_ms_fsync_after_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), policy(i64::MAX, 0, 0));
    assert_eq!(due(&p, 1), "now");
    assert_eq!(due(&p, 1), "now");
}
