//! Debian's kcat (librdkafka 2.0.2) against the broker: round trips with keys and headers,
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! every compression codec, metadata, offsets for times, and a restart keeping the data.

mod common;
use common::{TestBroker, run_with_timeout};
use std::process::Command;
use std::time::Duration;

fn kcat(b: &TestBroker, args: &[&str], input: Option<&[u8]>) -> String {
    let out = run_with_timeout(
        Command::new("kcat").arg("-b").arg(b.bootstrap()).args(args),
        input,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}\n{}\nbroker log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn round_trip_with_keys_and_headers() {
    let b = TestBroker::start(&[]);
    kcat(
        &b,
        &["-P", "-t", "rt", "-K:", "-H", "trace=abc", "-H", "n=1"],
        Some(b"k1:v1\nk2:v2\nk3:v3\n"),
    );
    let out = kcat(&b, &["-C", "-t", "rt", "-e", "-f", "%k|%s|%h|%o\n"], None);
    assert_eq!(
        out,
        "k1|v1|trace=abc,n=1|0\nk2|v2|trace=abc,n=1|1\nk3|v3|trace=abc,n=1|2\n"
    );
}

#[test]
fn every_compression_codec_round_trips() {
    let b = TestBroker::start(&[]);
    let mut expected = String::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let payload: String = (0..50)
            .map(|i| format!("{codec}-{i}-{}\n", "x".repeat(i)))
            .collect();
        kcat(
            &b,
            &["-P", "-t", "codecs", "-z", codec],
            Some(payload.as_bytes()),
        );
        expected.push_str(&payload);
    }
    let out = kcat(&b, &["-C", "-t", "codecs", "-e", "-f", "%s\n"], None);
    assert_eq!(out, expected);
}

#[test]
fn metadata_lists_the_broker_and_auto_created_topics() {
    let b = TestBroker::start(&["num.partitions=3"]);
    kcat(&b, &["-P", "-t", "auto", "-p", "2"], Some(b"x\n"));
    let out = kcat(&b, &["-L", "-t", "auto"], None);
    assert!(
        out.contains(&format!("broker 0 at 127.0.0.1:{}", b.port)),
        "{out}"
    );
    assert!(out.contains("topic \"auto\" with 3 partitions"), "{out}");
}

#[test]
fn offsets_for_times_and_the_log_end() {
    let b = TestBroker::start(&[]);
    for i in 0..5 {
        // One batch per kcat run so every record has its own timestamp batch.
        kcat(
            &b,
            &["-P", "-t", "times"],
            Some(format!("m{i}\n").as_bytes()),
        );
    }
    let out = kcat(&b, &["-Q", "-t", "times:0:0"], None);
    assert!(out.contains("offset 0"), "{out}");
    let out = kcat(&b, &["-Q", "-t", "times:0:9999999999999"], None);
    assert!(
        out.contains("offset -1"),
        "a time after every record gives the end marker: {out}"
    );
}

#[test]
fn data_survives_a_graceful_restart_and_a_crash() {
    let mut b = TestBroker::start(&[]);
    kcat(&b, &["-P", "-t", "durable", "-K:"], Some(b"a:1\nb:2\n"));
    assert!(b.stop(), "graceful shutdown exits 0");
    b.spawn();
    kcat(&b, &["-P", "-t", "durable", "-K:"], Some(b"c:3\n"));
    b.kill9();
    b.spawn();
    let out = kcat(&b, &["-C", "-t", "durable", "-e", "-f", "%k=%s@%o\n"], None);
    assert_eq!(out, "a=1@0\nb=2@1\nc=3@2\n");
}

#[test]
fn acks_all_is_refused_below_min_insync_replicas() {
    let b = TestBroker::start(&["min.insync.replicas=2"]);
    let out = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-P",
            "-t",
            "misr",
            "-X",
            "acks=all",
            "-X",
            "message.timeout.ms=2000",
        ]),
        Some(b"x\n"),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // NOT_ENOUGH_REPLICAS is retriable: librdkafka retries until the message times out.
    assert!(
        !out.status.success() || err.contains("Delivery failed") || err.contains("in-sync"),
        "{err}"
    );
    // acks=1 is not subject to min.insync.replicas.
    kcat(&b, &["-P", "-t", "misr", "-X", "acks=1"], Some(b"y\n"));
    assert_eq!(
        kcat(&b, &["-C", "-t", "misr", "-e", "-f", "%s\n"], None),
        "y\n"
    );
}
